"""The GAN family: `n_critic` discriminator updates, then one generator update, per train step.

Every ablation axis is chosen by name in the config: architecture (`config.model.name`), loss
(`config.gan.loss`, adversarial/losses.py), penalty or weight constraint (`config.gan.penalty`,
adversarial/penalties.py), BigGAN's orthogonal regularization of G
(`config.gan.orthogonal_weight`), norms and spectral norm (`config.model.*_norm`,
models/normalization.py), conditioning (`config.model.conditioning`: projection or auxiliary
classifier), DiffAugment (`config.gan.augment`, adversarial/augment.py) and the compute dtype
(`config.model.compute_dtype`: bfloat16 computes in bf16 while parameters, optimizer states,
losses and penalties stay float32).

A train step consumes one batch of `train.batch_size` images: with n_critic > 1 it is split into
n_critic disjoint sub-batches, one per D update (as WGAN's algorithm draws a fresh real batch per
critic iteration), and G's update uses batch_size / n_critic samples.

All functions are pure: the config is fixed when the family is built, and randomness comes only
from the `rng` argument (the trainer passes fold_in(train_key, step)).
"""
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxgan.adversarial import augment
from jaxgan.adversarial import losses
from jaxgan.adversarial import penalties
from jaxgan.adversarial import updates as adversarial
from jaxgan import config_lib
from jaxgan.data import images as image_lib
from jaxgan.families import base
from jaxgan.models import biggan
from jaxgan.models import conditioning
from jaxgan.models import dcgan
from jaxgan.models import mlp
from jaxgan.models import normalization
from jaxgan.models import resnet
from jaxgan.models import sndcgan
from jaxgan.training import gradients
from jaxgan.training import mesh as mesh_lib
from jaxgan.training import optim
from jaxgan.training.state import NetworkState
from jaxgan.training.state import TrainState


class Architecture(NamedTuple):
  make_generator: Callable  # (config.model, config.data) -> flax module (z, labels, train)
  make_discriminator: Callable  # (config.model, config.data) -> module (images, labels, train)


ARCHITECTURES = {
    'mlp': Architecture(mlp.make_generator, mlp.make_discriminator),
    'dcgan': Architecture(dcgan.make_generator, dcgan.make_discriminator),
    'sndcgan': Architecture(sndcgan.make_generator, sndcgan.make_discriminator),
    'resnet': Architecture(resnet.make_generator, resnet.make_discriminator),
    'biggan': Architecture(biggan.make_generator, biggan.make_discriminator),
}
COMPUTE_DTYPES = ('float32', 'bfloat16')
MUTABLE = ('batch_stats', normalization.SPECTRAL)  # collections a training forward pass updates


def _classifier_loss(class_logits: jax.Array, labels: jax.Array) -> jax.Array:
  """AC-GAN's log-likelihood of the correct class (Odena et al. 2017, arXiv:1610.09585)."""
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(class_logits, labels))


def balanced_labels(num: int, num_classes: int) -> np.ndarray:
  """int32 labels in contiguous equal blocks: with num = K * K a square grid shows class k in row
  k. numpy, so that jaxgan.inference.api computes them for a request's own size outside the jitted
  call."""
  return (np.arange(num) * num_classes // num).astype(np.int32)


def _check_config(config: ml_collections.ConfigDict) -> None:
  if config.model.name not in ARCHITECTURES:
    raise config_lib.ConfigError(
        f'Unknown config.model.name {config.model.name!r}; choose one of '
        f'{sorted(ARCHITECTURES)}.')
  if config.model.compute_dtype not in COMPUTE_DTYPES:
    raise config_lib.ConfigError(
        f'config.model.compute_dtype must be one of {COMPUTE_DTYPES}, got '
        f'{config.model.compute_dtype!r}.')
  conditioning.check_conditioning(config.model.conditioning)
  if config.model.conditioning != 'none' and config.model.num_classes < 2:
    raise config_lib.ConfigError(
        'A class-conditional model needs config.model.num_classes >= 2, got '
        f'{config.model.num_classes}.')
  n_critic = config.gan.n_critic
  microbatches = gradients.microbatches(config)
  if not (isinstance(n_critic, int) and n_critic >= 1
          and config.train.batch_size % (n_critic * microbatches) == 0):
    raise config_lib.ConfigError(
        f'config.gan.n_critic={n_critic} must be a positive integer dividing '
        f'config.train.batch_size={config.train.batch_size} (each D update uses '
        'batch_size / n_critic real images) into config.train.microbatches='
        f'{microbatches} micro-batches.')
  if not (isinstance(config.gan.penalty_interval, int) and config.gan.penalty_interval >= 1):
    raise config_lib.ConfigError(
        'config.gan.penalty_interval must be a positive integer (1: every D update; '
        'k: lazy regularization every k-th update), got '
        f'{config.gan.penalty_interval}.')
  if not _orthogonal_weight(config) >= 0:
    raise config_lib.ConfigError("config.gan.orthogonal_weight (BigGAN's beta) must be >= 0, got "
                                 f'{_orthogonal_weight(config)}.')


def _orthogonal_weight(config: ml_collections.ConfigDict) -> float:
  return config.gan.get('orthogonal_weight', 0.0)  # 0: configs written before the field


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
    self.conditioning = config.model.conditioning
    self.num_classes = config.model.num_classes
    self.n_critic = config.gan.n_critic
    self.orthogonal_weight = _orthogonal_weight(config)
    self.microbatches = gradients.microbatches(config)
    num_steps = config.train.num_steps
    self.generator_schedule = optim.make_schedule(config.optim.generator, num_steps)
    self.discriminator_schedule = optim.make_schedule(config.optim.discriminator, num_steps)
    self.generator_optimizer = optim.make_optimizer(config.optim.generator,
                                                    self.generator_schedule)
    gan = config.gan
    self.critic = adversarial.Critic(
        module=architecture.make_discriminator(config.model, config.data),
        optimizer=optim.make_optimizer(config.optim.discriminator, self.discriminator_schedule),
        loss=losses.get(gan.loss), regularizer=penalties.get(gan),
        penalty_weight=0.0 if gan.penalty in ('none', 'weight_clipping') else gan.penalty_weight,
        penalty_interval=gan.penalty_interval,
        augment_policy=augment.parse_policy(gan.augment),
        classifier_loss=_classifier_loss if self.conditioning == 'auxiliary' else None,
        classifier_weight=gan.classifier_weight, mutable=MUTABLE,
        microbatches=self.microbatches)

  @property
  def conditional(self) -> bool:
    return self.conditioning != 'none'

  @property
  def label_classes(self) -> int:
    return self.num_classes if self.conditional else 0

  def example_batch(self, phase: base.Phase) -> base.Batch:
    return base.labelled_example_batch(self.config, phase)

  def fingerprint(self) -> dict:
    return {'family': 'gan', 'model': self.config.model.to_dict(),
            'image_shape': [self.config.data.image_size] * 2 + [self.config.data.channels]}

  def _labels(self, labels):
    """The labels the networks see: None for an unconditional model."""
    return labels if self.conditional else None

  def init(self, rng: jax.Array, batch: base.Batch) -> TrainState:
    g_rng, d_rng = jax.random.split(rng)
    z = jnp.zeros((1, self.latent_dim), jnp.float32)
    labels = self._labels(jnp.zeros((1,), jnp.int32))
    g_variables = self.generator.init(g_rng, z, labels, train=False)
    d_variables = self.critic.module.init(d_rng, image_lib.normalize_images(batch['image'][:1]),
                                          labels, train=False)
    return TrainState.create({
        'generator': NetworkState.create(g_variables, self.generator_optimizer, ema=True),
        'discriminator': NetworkState.create(d_variables, self.critic.optimizer, ema=False)})

  def _generate(self, g: NetworkState, params, z, labels, train: bool):
    """(float32 images, G's collections after the pass); they only change when training."""
    labels = self._labels(labels)
    variables = g.variables(params)
    if not train:
      return self.generator.apply(variables, z, labels, train=False).astype(jnp.float32), None
    images, updates = self.generator.apply(variables, z, labels, train=True, mutable=list(MUTABLE))
    return images.astype(jnp.float32), {**g.collections, **updates}

  def _sample_latents(self, rng, num):
    z_rng, label_rng = jax.random.split(rng)
    return mesh_lib.constrain_to_batch(
        (jax.random.normal(z_rng, (num, self.latent_dim)),
         jax.random.randint(label_rng, (num,), 0, max(self.num_classes, 1))))

  def train_step(self, state: TrainState, batch: base.Batch, rng: jax.Array):
    real = image_lib.normalize_images(batch['image'])
    per_update = real.shape[0] // self.n_critic
    d_rng, g_rng = jax.random.split(rng)
    g, d = state.generator, state.discriminator

    # Sub-batch k takes rows k, k + n, k + 2n, ... so each device keeps its own rows.
    def sub_batch(x, k):
      return x.reshape(per_update, self.n_critic, *x.shape[1:])[:, k]

    # A Python loop, not lax.scan: inside an XLA while loop XLA:CPU computes the kernel gradient
    # of D's strided convolutions ~10x slower (experiments/bench_dcgan.py).
    d_metrics = []
    for k, rng_k in enumerate(jax.random.split(d_rng, self.n_critic)):
      latent_rng, update_rng = jax.random.split(rng_k)
      z, fake_labels = self._sample_latents(latent_rng, per_update)
      fake, _ = self._generate(g, g.params, z, fake_labels, train=True)
      real_k = adversarial.Scored(sub_batch(real, k),
                                  self._labels(sub_batch(batch['label'], k)))
      d, metrics = adversarial.discriminator_update(
          self.critic, d, real_k, adversarial.Scored(fake, self._labels(fake_labels)),
          update_rng, update_index=state.step * self.n_critic + k)
      d_metrics.append(metrics)

    # Generator update against the updated discriminator.
    latent_rng, adversarial_rng = jax.random.split(g_rng)
    z, fake_labels = self._sample_latents(latent_rng, per_update)

    # What a relativistic loss compares G's samples with (other losses ignore it).
    real_0 = adversarial.Scored(sub_batch(real, 0), self._labels(sub_batch(batch['label'], 0)))

    def generator_objective(params, inputs, rng):
      z, fake_labels, real = inputs
      images, collections = self._generate(g, params, z, fake_labels, train=True)
      loss = adversarial.generator_adversarial_loss(
          self.critic, d, adversarial.Scored(images, self._labels(fake_labels)), rng, real=real)
      if not self.orthogonal_weight:
        return loss, (loss, collections, {})
      orthogonal = penalties.orthogonal_regularization(params)
      return (loss + self.orthogonal_weight * orthogonal,
              (loss, collections, {'generator_orthogonal_penalty': orthogonal}))

    (_, (g_loss, g_collections, g_terms)), g_grads = gradients.value_and_grad(
        generator_objective, g.params, (z, fake_labels, real_0), adversarial_rng,
        self.microbatches)
    g = g.apply_gradients(g_grads, self.generator_optimizer, collections=g_collections,
                          ema_decay=self.config.train.ema_decay)
    metrics = jax.tree.map(lambda *values: jnp.mean(jnp.stack(values)), *d_metrics)
    metrics.update({
        'generator_loss': g_loss,
        'generator_learning_rate': self.generator_schedule(state.step),
        'discriminator_learning_rate': self.discriminator_schedule(state.step),
        **g_terms,
    })
    return state.update(generator=g, discriminator=d), metrics

  def generate(self, state: TrainState, z: jax.Array, labels: jax.Array | None = None
               ) -> jax.Array:
    """Images from latents with the EMA generator in inference mode (running BN statistics).

    A conditional model without `labels` gets balanced labels (`balanced_labels`).
    """
    if self.conditional and labels is None:
      labels = balanced_labels(z.shape[0], self.num_classes)
    g = state.generator
    return self._generate(g, g.ema_params, z, labels, train=False)[0]

  def sample(self, state: TrainState, rng: jax.Array, num: int) -> jax.Array:
    """`num` samples; a conditional model's are in class blocks (per-class rows in a K x K grid)."""
    return self.generate(state, jax.random.normal(rng, (num, self.latent_dim)))
