"""The GAN family: `n_critic` discriminator updates, then one generator update, per train step.

Every ablation axis is chosen by name in the config: architecture (`config.model.name`), loss
(`config.gan.loss`, losses.py), penalty or weight constraint (`config.gan.penalty`,
penalties.py), norms and spectral norm (`config.model.*_norm`, models/normalization.py),
conditioning (`config.model.conditioning`: projection or auxiliary classifier), DiffAugment
(`config.gan.augment`, augment.py) and the compute dtype (`config.model.compute_dtype`:
bfloat16 computes in bf16 while parameters, optimizer states, losses and penalties stay float32).

A train step consumes one batch of `train.batch_size` images: with n_critic > 1 it is split into
n_critic disjoint sub-batches, one per D update (as WGAN's algorithm draws a fresh real batch per
critic iteration), and G's update uses batch_size / n_critic samples.

All functions are pure: the config is fixed when the family is built, and randomness comes only
from the `rng` argument (the trainer passes fold_in(train_key, step)).
"""
from typing import Callable, NamedTuple

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxgan import augment
from jaxgan import data
from jaxgan import losses
from jaxgan import optim
from jaxgan import penalties
from jaxgan.families import base
from jaxgan.models import conditioning
from jaxgan.models import dcgan
from jaxgan.models import mlp
from jaxgan.models import normalization
from jaxgan.models import resnet
from jaxgan.models import sndcgan


class Architecture(NamedTuple):
  make_generator: Callable  # (config.model, config.data) -> flax module (z, labels, train)
  make_discriminator: Callable  # (config.model, config.data) -> module (images, labels, train)


ARCHITECTURES = {
    'mlp': Architecture(mlp.make_generator, mlp.make_discriminator),
    'dcgan': Architecture(dcgan.make_generator, dcgan.make_discriminator),
    'sndcgan': Architecture(sndcgan.make_generator, sndcgan.make_discriminator),
    'resnet': Architecture(resnet.make_generator, resnet.make_discriminator),
}
COMPUTE_DTYPES = ('float32', 'bfloat16')
MUTABLE = ('batch_stats', normalization.SPECTRAL)  # collections a training forward pass updates


@flax.struct.dataclass
class GanState:
  """Everything a GAN run needs to resume: params, optimizer states, BN statistics and
  spectral-norm vectors of both networks, EMA of G. Unused collections are empty dicts."""
  step: jax.Array
  generator_params: flax.core.FrozenDict
  generator_batch_stats: flax.core.FrozenDict
  generator_opt_state: optax.OptState
  discriminator_params: flax.core.FrozenDict
  discriminator_opt_state: optax.OptState
  ema_generator_params: flax.core.FrozenDict
  generator_spectral: flax.core.FrozenDict
  discriminator_batch_stats: flax.core.FrozenDict
  discriminator_spectral: flax.core.FrozenDict


def ema_update(ema, params, decay: float, step: jax.Array):
  """EMA with warm-up: the effective decay min(decay, (1 + step) / (10 + step)) lets early
  samples follow the generator instead of its random init (as in TF's ExponentialMovingAverage
  with num_updates)."""
  decay = jnp.minimum(decay, (1.0 + step) / (10.0 + step))
  return jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, ema, params)


def balanced_labels(num: int, num_classes: int) -> jax.Array:
  """Labels in contiguous equal blocks: with num = K * K a square grid shows class k in row k."""
  return (jnp.arange(num) * num_classes) // num


def _collections(variables) -> tuple[dict, dict]:
  return variables.get('batch_stats', {}), variables.get(normalization.SPECTRAL, {})


def _check_config(config: ml_collections.ConfigDict) -> None:
  if config.model.name not in ARCHITECTURES:
    raise ValueError(f'Unknown config.model.name {config.model.name!r}; choose one of '
                     f'{sorted(ARCHITECTURES)}.')
  if config.model.compute_dtype not in COMPUTE_DTYPES:
    raise ValueError(f'config.model.compute_dtype must be one of {COMPUTE_DTYPES}, got '
                     f'{config.model.compute_dtype!r}.')
  conditioning.check_conditioning(config.model.conditioning)
  if config.model.conditioning != 'none' and config.model.num_classes < 2:
    raise ValueError('A class-conditional model needs config.model.num_classes >= 2, got '
                     f'{config.model.num_classes}.')
  n_critic = config.gan.n_critic
  if not (isinstance(n_critic, int) and n_critic >= 1
          and config.train.batch_size % n_critic == 0):
    raise ValueError(f'config.gan.n_critic={n_critic} must be a positive integer dividing '
                     f'config.train.batch_size={config.train.batch_size} (each D update uses '
                     'batch_size / n_critic real images).')
  if not (isinstance(config.gan.penalty_interval, int) and config.gan.penalty_interval >= 1):
    raise ValueError('config.gan.penalty_interval must be a positive integer (1: every D update; '
                     'k: lazy regularization every k-th update), got '
                     f'{config.gan.penalty_interval}.')


class GanFamily:
  """A GAN whose architecture, loss, penalty, norms, conditioning and augmentation come from
  the config."""

  capabilities = frozenset({'sample', 'generate'})

  def __init__(self, config: ml_collections.ConfigDict):
    _check_config(config)
    self.config = config
    self.latent_dim = config.model.latent_dim
    architecture = ARCHITECTURES[config.model.name]
    self.generator = architecture.make_generator(config.model, config.data)
    self.discriminator = architecture.make_discriminator(config.model, config.data)
    self.conditioning = config.model.conditioning
    self.num_classes = config.model.num_classes
    self.loss = losses.get(config.gan.loss)
    self.regularizer = penalties.get(config.gan)
    self.augment_policy = augment.parse_policy(config.gan.augment)
    self.n_critic = config.gan.n_critic
    num_steps = config.train.num_steps
    self.generator_schedule = optim.make_schedule(config.optim.generator, num_steps)
    self.discriminator_schedule = optim.make_schedule(config.optim.discriminator, num_steps)
    self.generator_optimizer = optim.make_optimizer(config.optim.generator,
                                                    self.generator_schedule)
    self.discriminator_optimizer = optim.make_optimizer(config.optim.discriminator,
                                                        self.discriminator_schedule)

  @property
  def conditional(self) -> bool:
    return self.conditioning != 'none'

  def example_batch(self, phase: base.Phase) -> base.Batch:
    return base.labelled_example_batch(self.config, phase)

  def fingerprint(self) -> dict:
    return {'family': 'gan', 'model': self.config.model.to_dict(),
            'image_shape': [self.config.data.image_size] * 2 + [self.config.data.channels]}

  def _labels(self, labels):
    """The labels the networks see: None for an unconditional model."""
    return labels if self.conditional else None

  def init(self, rng: jax.Array, batch: data.Batch) -> GanState:
    g_rng, d_rng = jax.random.split(rng)
    z = jnp.zeros((1, self.latent_dim), jnp.float32)
    labels = self._labels(jnp.zeros((1,), jnp.int32))
    g_variables = self.generator.init(g_rng, z, labels, train=False)
    d_variables = self.discriminator.init(d_rng, data.normalize_images(batch['image'][:1]), labels,
                                          train=False)
    g_params, d_params = g_variables['params'], d_variables['params']
    g_batch_stats, g_spectral = _collections(g_variables)
    d_batch_stats, d_spectral = _collections(d_variables)
    return GanState(
        step=jnp.zeros((), jnp.int32),
        generator_params=g_params,
        generator_batch_stats=g_batch_stats,
        generator_opt_state=self.generator_optimizer.init(g_params),
        discriminator_params=d_params,
        discriminator_opt_state=self.discriminator_optimizer.init(d_params),
        ema_generator_params=g_params,
        generator_spectral=g_spectral,
        discriminator_batch_stats=d_batch_stats,
        discriminator_spectral=d_spectral)

  def _generate(self, params, batch_stats, spectral, z, labels, train: bool):
    """Returns (float32 images, new batch stats, new spectral vectors); the collections only
    change when training."""
    variables = {'params': params, 'batch_stats': batch_stats, normalization.SPECTRAL: spectral}
    labels = self._labels(labels)
    if not train:
      images = self.generator.apply(variables, z, labels, train=False)
      return images.astype(jnp.float32), batch_stats, spectral
    images, updates = self.generator.apply(variables, z, labels, train=True,
                                           mutable=list(MUTABLE))
    return (images.astype(jnp.float32), *_collections(updates))

  def _discriminate(self, params, batch_stats, spectral, images, labels, rng):
    """D in training mode: ((logits, class logits or None), new batch stats, new vectors)."""
    variables = {'params': params, 'batch_stats': batch_stats, normalization.SPECTRAL: spectral}
    outputs, updates = self.discriminator.apply(variables, images, self._labels(labels),
                                                train=True, rngs={'dropout': rng},
                                                mutable=list(MUTABLE))
    return (outputs, *_collections(updates))

  def _augment(self, images, rng):
    return augment.diff_augment(images, rng, self.augment_policy)

  def _classifier_loss(self, class_logits, labels):
    """AC-GAN's log-likelihood of the correct class (Odena et al. 2017), zero otherwise."""
    if self.conditioning != 'auxiliary':
      return jnp.zeros((), jnp.float32)
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(class_logits, labels))

  def _sample_latents(self, rng, num):
    z_rng, label_rng = jax.random.split(rng)
    return (jax.random.normal(z_rng, (num, self.latent_dim)),
            jax.random.randint(label_rng, (num,), 0, max(self.num_classes, 1)))

  def _penalty(self, d_params, d_collections, real, labels, fake, update_index, rng):
    """config.gan.penalty_weight x penalty, every `penalty_interval`-th D update scaled by the
    interval (lazy regularization, Karras et al. 2020, arXiv:1912.04958)."""
    gan = self.config.gan
    if gan.penalty in ('none', 'weight_clipping'):
      return jnp.zeros((), jnp.float32)
    dropout_rng, penalty_rng = jax.random.split(rng)

    def discriminate(images):
      (logits, _), _, _ = self._discriminate(d_params, *d_collections, images, labels,
                                             dropout_rng)
      return logits

    def penalty():
      return gan.penalty_weight * gan.penalty_interval * self.regularizer.penalty(
          discriminate, real, fake, penalty_rng)

    if gan.penalty_interval == 1:
      return penalty()
    return jax.lax.cond(update_index % gan.penalty_interval == 0, penalty,
                        lambda: jnp.zeros((), jnp.float32))

  def _discriminator_update(self, state: GanState, carry, inputs):
    """One D update on a real sub-batch and a fresh generated one; `carry` holds D's params,
    optimizer state and collections."""
    d_params, d_opt_state, d_batch_stats, d_spectral = carry
    real, real_labels, update_index, rng = inputs
    num = real.shape[0]
    latent_rng, augment_rng, dropout_rng, penalty_rng = jax.random.split(rng, 4)
    z, fake_labels = self._sample_latents(latent_rng, num)
    fake, _, _ = self._generate(state.generator_params, state.generator_batch_stats,
                                state.generator_spectral, z, fake_labels, train=True)
    fake = jax.lax.stop_gradient(fake)
    labels = jnp.concatenate([real_labels, fake_labels])
    both = self._augment(jnp.concatenate([real, fake]), augment_rng)

    def objective(params):
      (logits, class_logits), batch_stats, spectral = self._discriminate(
          params, d_batch_stats, d_spectral, both, labels, dropout_rng)
      loss = self.loss.discriminator(logits[:num], logits[num:])
      loss += self.config.gan.classifier_weight * self._classifier_loss(class_logits, labels)
      penalty = self._penalty(params, (d_batch_stats, d_spectral), real, real_labels, fake,
                              update_index, penalty_rng)
      return loss + penalty, (loss, penalty, logits, batch_stats, spectral)

    (_, (loss, penalty, logits, batch_stats, spectral)), grads = jax.value_and_grad(
        objective, has_aux=True)(d_params)
    updates, d_opt_state = self.discriminator_optimizer.update(grads, d_opt_state, d_params)
    d_params = self.regularizer.constrain(optax.apply_updates(d_params, updates))
    metrics = {
        'discriminator_loss': loss,
        'discriminator_penalty': penalty,
        'discriminator_real': jnp.mean(jax.nn.sigmoid(logits[:num])),
        'discriminator_fake': jnp.mean(jax.nn.sigmoid(logits[num:])),
    }
    return (d_params, d_opt_state, batch_stats, spectral), metrics

  def train_step(self, state: GanState, batch: data.Batch, rng: jax.Array):
    real = data.normalize_images(batch['image'])
    per_update = real.shape[0] // self.n_critic
    d_rng, g_rng = jax.random.split(rng)

    # Sub-batch k takes rows k, k + n, k + 2n, ... so each device keeps its own rows.
    def split(x):
      return jnp.swapaxes(x.reshape(per_update, self.n_critic, *x.shape[1:]), 0, 1)

    d_inputs = (split(real), split(batch['label']), state.step * self.n_critic +
                jnp.arange(self.n_critic), jax.random.split(d_rng, self.n_critic))
    d_carry = (state.discriminator_params, state.discriminator_opt_state,
               state.discriminator_batch_stats, state.discriminator_spectral)
    # A Python loop, not lax.scan: inside an XLA while loop XLA:CPU computes the kernel gradient
    # of D's strided convolutions ~10x slower (experiments/bench_dcgan.py).
    d_metrics = []
    for k in range(self.n_critic):
      d_carry, metrics = self._discriminator_update(
          state, d_carry, jax.tree.map(lambda x, k=k: x[k], d_inputs))
      d_metrics.append(metrics)
    d_params, d_opt_state, d_batch_stats, d_spectral = d_carry
    d_metrics = jax.tree.map(lambda *values: jnp.stack(values), *d_metrics)

    # Generator update against the updated discriminator.
    latent_rng, augment_rng, dropout_rng = jax.random.split(g_rng, 3)
    z, fake_labels = self._sample_latents(latent_rng, per_update)

    def generator_objective(g_params):
      images, batch_stats, spectral = self._generate(
          g_params, state.generator_batch_stats, state.generator_spectral, z, fake_labels,
          train=True)
      (logits, class_logits), _, _ = self._discriminate(
          d_params, d_batch_stats, d_spectral, self._augment(images, augment_rng), fake_labels,
          dropout_rng)
      loss = self.loss.generator(logits)
      loss += self.config.gan.classifier_weight * self._classifier_loss(class_logits,
                                                                         fake_labels)
      return loss, (batch_stats, spectral)

    (g_loss, (g_batch_stats, g_spectral)), g_grads = jax.value_and_grad(
        generator_objective, has_aux=True)(state.generator_params)
    g_updates, g_opt_state = self.generator_optimizer.update(
        g_grads, state.generator_opt_state, state.generator_params)
    g_params = optax.apply_updates(state.generator_params, g_updates)

    metrics = jax.tree.map(jnp.mean, d_metrics)
    metrics.update({
        'generator_loss': g_loss,
        'generator_learning_rate': self.generator_schedule(state.step),
        'discriminator_learning_rate': self.discriminator_schedule(state.step),
    })
    new_state = state.replace(
        step=state.step + 1,
        generator_params=g_params,
        generator_batch_stats=g_batch_stats,
        generator_opt_state=g_opt_state,
        discriminator_params=d_params,
        discriminator_opt_state=d_opt_state,
        ema_generator_params=ema_update(state.ema_generator_params, g_params,
                                        self.config.train.ema_decay, state.step),
        generator_spectral=g_spectral,
        discriminator_batch_stats=d_batch_stats,
        discriminator_spectral=d_spectral)
    return new_state, metrics

  def generate(self, state: GanState, z: jax.Array, labels: jax.Array | None = None) -> jax.Array:
    """Images from latents with the EMA generator in inference mode (running BN statistics).

    A conditional model without `labels` gets balanced labels (`balanced_labels`).
    """
    if self.conditional and labels is None:
      labels = balanced_labels(z.shape[0], self.num_classes)
    images, _, _ = self._generate(state.ema_generator_params, state.generator_batch_stats,
                                  state.generator_spectral, z, labels, train=False)
    return images

  def sample(self, state: GanState, rng: jax.Array, num: int) -> jax.Array:
    """`num` samples; a conditional model's are in class blocks (per-class rows in a K x K grid)."""
    return self.generate(state, jax.random.normal(rng, (num, self.latent_dim)))
