"""The GAN family: one discriminator update, then one generator update, per train step.

All functions are pure: the config is fixed when the family is built, and randomness comes only
from the `rng` argument (the trainer passes fold_in(train_key, step)).
"""
import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxgan import data
from jaxgan import losses
from jaxgan import optim
from jaxgan.models import dcgan

GENERATORS = {'dcgan': dcgan.make_generator}
DISCRIMINATORS = {'dcgan': dcgan.make_discriminator}


@flax.struct.dataclass
class GanState:
  """Everything a GAN run needs to resume: params, optimizer states, BN statistics, EMA of G."""
  step: jax.Array
  generator_params: flax.core.FrozenDict
  generator_batch_stats: flax.core.FrozenDict
  generator_opt_state: optax.OptState
  discriminator_params: flax.core.FrozenDict
  discriminator_opt_state: optax.OptState
  ema_generator_params: flax.core.FrozenDict


def ema_update(ema, params, decay: float, step: jax.Array):
  """EMA with warm-up: the effective decay min(decay, (1 + step) / (10 + step)) lets early
  samples follow the generator instead of its random init (as in TF's ExponentialMovingAverage
  with num_updates)."""
  decay = jnp.minimum(decay, (1.0 + step) / (10.0 + step))
  return jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, ema, params)


class GanFamily:
  """Unconditional GAN with a config-chosen architecture and loss."""

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config
    self.latent_dim = config.model.latent_dim
    self.generator = GENERATORS[config.model.name](config.model, config.data)
    self.discriminator = DISCRIMINATORS[config.model.name](config.model)
    self.loss = losses.get(config.gan.loss)
    num_steps = config.train.num_steps
    self.generator_schedule = optim.make_schedule(config.optim.generator, num_steps)
    self.discriminator_schedule = optim.make_schedule(config.optim.discriminator, num_steps)
    self.generator_optimizer = optim.make_optimizer(config.optim.generator,
                                                    self.generator_schedule)
    self.discriminator_optimizer = optim.make_optimizer(config.optim.discriminator,
                                                        self.discriminator_schedule)

  def fingerprint(self) -> dict:
    return {'family': 'gan', 'model': self.config.model.to_dict(),
            'image_shape': [self.config.data.image_size] * 2 + [self.config.data.channels]}

  def init(self, rng: jax.Array, batch: data.Batch) -> GanState:
    g_rng, d_rng = jax.random.split(rng)
    z = jnp.zeros((1, self.latent_dim), jnp.float32)
    g_variables = self.generator.init(g_rng, z, train=False)
    d_params = self.discriminator.init(d_rng, data.normalize_images(batch.image[:1]),
                                       train=False)['params']
    g_params = g_variables['params']
    return GanState(
        step=jnp.zeros((), jnp.int32),
        generator_params=g_params,
        generator_batch_stats=g_variables['batch_stats'],
        generator_opt_state=self.generator_optimizer.init(g_params),
        discriminator_params=d_params,
        discriminator_opt_state=self.discriminator_optimizer.init(d_params),
        ema_generator_params=g_params)

  def _generate(self, params, batch_stats, z, train: bool):
    """Returns (images, new batch stats); batch stats only change when training."""
    variables = {'params': params, 'batch_stats': batch_stats}
    if not train:
      return self.generator.apply(variables, z, train=False), batch_stats
    images, updates = self.generator.apply(variables, z, train=True, mutable=['batch_stats'])
    return images, updates['batch_stats']

  def _discriminate(self, params, images, rng):
    return self.discriminator.apply({'params': params}, images, train=True,
                                    rngs={'dropout': rng})

  def train_step(self, state: GanState, batch: data.Batch, rng: jax.Array):
    real = data.normalize_images(batch.image)
    num = real.shape[0]
    z_for_d, z_for_g, dropout_real, dropout_fake, dropout_g = jax.random.split(rng, 5)

    # Discriminator update on real images and a detached generated batch.
    fake, _ = self._generate(state.generator_params, state.generator_batch_stats,
                             jax.random.normal(z_for_d, (num, self.latent_dim)), train=True)
    fake = jax.lax.stop_gradient(fake)

    def discriminator_objective(d_params):
      real_logits = self._discriminate(d_params, real, dropout_real)
      fake_logits = self._discriminate(d_params, fake, dropout_fake)
      return self.loss.discriminator(real_logits, fake_logits), (real_logits, fake_logits)

    (d_loss, (real_logits, fake_logits)), d_grads = jax.value_and_grad(
        discriminator_objective, has_aux=True)(state.discriminator_params)
    d_updates, d_opt_state = self.discriminator_optimizer.update(
        d_grads, state.discriminator_opt_state, state.discriminator_params)
    d_params = optax.apply_updates(state.discriminator_params, d_updates)

    # Generator update against the updated discriminator.
    def generator_objective(g_params):
      images, batch_stats = self._generate(
          g_params, state.generator_batch_stats,
          jax.random.normal(z_for_g, (num, self.latent_dim)), train=True)
      return self.loss.generator(self._discriminate(d_params, images, dropout_g)), batch_stats

    (g_loss, batch_stats), g_grads = jax.value_and_grad(
        generator_objective, has_aux=True)(state.generator_params)
    g_updates, g_opt_state = self.generator_optimizer.update(
        g_grads, state.generator_opt_state, state.generator_params)
    g_params = optax.apply_updates(state.generator_params, g_updates)

    metrics = {
        'discriminator_loss': d_loss,
        'generator_loss': g_loss,
        'discriminator_real': jnp.mean(nn.sigmoid(real_logits)),
        'discriminator_fake': jnp.mean(nn.sigmoid(fake_logits)),
        'generator_learning_rate': self.generator_schedule(state.step),
        'discriminator_learning_rate': self.discriminator_schedule(state.step),
    }
    new_state = state.replace(
        step=state.step + 1,
        generator_params=g_params,
        generator_batch_stats=batch_stats,
        generator_opt_state=g_opt_state,
        discriminator_params=d_params,
        discriminator_opt_state=d_opt_state,
        ema_generator_params=ema_update(state.ema_generator_params, g_params,
                                        self.config.train.ema_decay, state.step))
    return new_state, metrics

  def generate(self, state: GanState, z: jax.Array) -> jax.Array:
    """Images from latents with the EMA generator in inference mode (running BN statistics)."""
    images, _ = self._generate(state.ema_generator_params, state.generator_batch_stats, z,
                               train=False)
    return images

  def sample(self, state: GanState, rng: jax.Array, num: int) -> jax.Array:
    return self.generate(state, jax.random.normal(rng, (num, self.latent_dim)))
