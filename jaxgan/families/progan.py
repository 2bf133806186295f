"""Progressive growing of GANs (Karras et al. 2018, arXiv:1710.10196) on the trainer's phases.

One phase per resolution of `config.progan.resolutions` (4 -> 8 -> 16 -> 32 ...), each of
`steps_per_phase` G updates (one D update before each) at its own batch size. A phase's batches
are the dataset box-filtered to its resolution (data.DownscaledSource). In phase k > 0 the new
blocks fade in: alpha rises linearly from 0 to 1 over the first `fade_fraction` of the phase
and stays 1 after it, in both networks (models/progan.py) and in the real images D sees
(lerp of the 2x-coarsened batch and the batch itself, as the official code does).
`progressive = False` is the baseline: the final networks, one phase at the final resolution.

The phase of a train step is static (its batch's image size), so each phase compiles once;
alpha and the phase's first step come from state.step. Sampling follows the phase of the last
update and upsamples (nearest) to the final resolution, so grids and FID see the current
resolution at one fixed image size. Every switch of the paper's ablation (equalized learning
rate, pixel norm, minibatch stddev, the drift term, EMA, fade-in, optimizer reset per phase,
the official code's mirror augmentation) is a config field.
"""
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections

from jaxgan.adversarial import losses
from jaxgan.adversarial import penalties
from jaxgan.adversarial import updates as adversarial
from jaxgan import config_lib
from jaxgan.data import images as image_lib
from jaxgan.families import base
from jaxgan.models import progan as networks
from jaxgan.training import gradients
from jaxgan.training import mesh as mesh_lib
from jaxgan.training import optim
from jaxgan.training.state import NetworkState
from jaxgan.training.state import TrainState


_MIRROR_STREAM = 0x4d495252  # 'MIRR': the flips' key is fold_in(step key, this)


def mirror(images: jax.Array, key: jax.Array) -> jax.Array:
  """Each image [N, H, W, C] flipped left-right with probability 1/2 (the official code's
  mirror_augment, applied to the real images D sees)."""
  flip = jax.random.bernoulli(key, 0.5, (images.shape[0], 1, 1, 1))
  return jnp.where(flip, images[:, :, ::-1], images)


class _AtLevel(NamedTuple):
  """The discriminator at one level of detail, in the module interface adversarial.Critic
  applies: (images, condition, train) -> (logits, no class logits), no mutable collections."""
  module: networks.Discriminator
  level: int
  alpha: jax.Array

  def apply(self, variables, images, condition, train, rngs=None, mutable=()):
    del condition, train, rngs, mutable
    return (self.module.apply(variables, images, self.level, self.alpha), None), {}


def fade_reals(images: jax.Array, alpha: jax.Array) -> jax.Array:
  """Real images faded like G's output: lerp(2x-coarsened images, images, alpha)."""
  coarse = networks.upsample_nearest(networks.downsample_average(images, 2), 2)
  return coarse + alpha * (images - coarse)


def _check_schedule_fields(config: ml_collections.ConfigDict, resolutions: tuple) -> None:
  """One ConfigError naming every field that disagrees with progan.resolutions (configs/
  progan.py derives image_size, features and num_steps from it; these were set apart)."""
  block, features = config.progan, tuple(config.model.features)
  fixes = []
  if resolutions[-1] != config.data.image_size:
    fixes.append(f'config.data.image_size={config.data.image_size} -> {resolutions[-1]} (the '
                 'last resolution)')
  if len(features) != len(resolutions):
    fixes.append(f'config.model.features={features} -> one width per resolution')
  if block.batch_sizes and len(block.batch_sizes) != len(resolutions):
    fixes.append(f'config.progan.batch_sizes={tuple(block.batch_sizes)} -> one batch size per '
                 'resolution, or () for config.train.batch_size everywhere')
  if block.progressive and isinstance(block.steps_per_phase, int) and (
      config.train.num_steps > block.steps_per_phase * len(resolutions)):
    fixes.append(f'config.train.num_steps={config.train.num_steps} -> at most '
                 f'{block.steps_per_phase * len(resolutions)} (steps_per_phase x resolutions)')
  if fixes:
    raise config_lib.ConfigError(
        f'config.progan.resolutions={resolutions} disagrees with: {"; ".join(fixes)}. Set '
        'them together, or leave them unset: configs/progan.py derives them from the '
        'resolutions.')


def _check_config(config: ml_collections.ConfigDict) -> None:
  block = config.progan
  resolutions = tuple(block.resolutions)
  if (len(resolutions) < 1 or resolutions[0] != 4
      or any(b != 2 * a for a, b in zip(resolutions, resolutions[1:]))):
    raise config_lib.ConfigError(
        f'config.progan.resolutions={resolutions} must double from 4, e.g. (4, 8, 16, 32).')
  _check_schedule_fields(config, resolutions)
  group = config.model.minibatch_group_size
  batch_sizes = tuple(block.batch_sizes) or (config.train.batch_size,)
  if config.model.minibatch_stddev and any(b % group for b in batch_sizes):
    raise config_lib.ConfigError(
        f'The batch sizes {batch_sizes} must each be a multiple of '
        f'config.model.minibatch_group_size={group} (minibatch stddev groups); set '
        'config.train.batch_size (or config.progan.batch_sizes) to multiples of it.')
  if not 0.0 <= block.fade_fraction <= 1.0:
    raise config_lib.ConfigError(
        f'config.progan.fade_fraction={block.fade_fraction} must be in [0, 1] (0: no fade-in).')
  if not (isinstance(block.steps_per_phase, int) and block.steps_per_phase > 0):
    raise config_lib.ConfigError(
        f'config.progan.steps_per_phase must be a positive integer, got {block.steps_per_phase!r}.')


class ProganFamily:
  """ProGAN: a WGAN-GP (+ drift) pair that grows from 4x4 to the data's resolution."""

  capabilities = frozenset({'sample', 'generate', 'phases'})

  def __init__(self, config: ml_collections.ConfigDict):
    _check_config(config)
    self.config = config
    block, model = config.progan, config.model
    self.resolutions = tuple(block.resolutions)
    self.latent_dim = model.latent_dim
    self.label_classes = 0  # unconditional
    self._phases = self._make_phases()
    self.starts = tuple(sum(p.num_steps for p in self._phases[:k])
                        for k in range(len(self._phases)))
    self.generator = networks.Generator(
        resolutions=self.resolutions, features=tuple(model.features),
        channels=config.data.channels, equalized_lr=model.equalized_lr,
        pixel_norm=model.pixel_norm, normalize_latents=model.normalize_latents,
        leaky_relu_slope=model.leaky_relu_slope)
    self.discriminator = networks.Discriminator(
        resolutions=self.resolutions, features=tuple(model.features),
        equalized_lr=model.equalized_lr, minibatch_stddev=model.minibatch_stddev,
        group_size=model.minibatch_group_size, leaky_relu_slope=model.leaky_relu_slope)
    num_steps = config.train.num_steps
    self.generator_optimizer = optim.make_optimizer(
        config.optim.generator, optim.make_schedule(config.optim.generator, num_steps))
    self.discriminator_optimizer = optim.make_optimizer(
        config.optim.discriminator, optim.make_schedule(config.optim.discriminator, num_steps))
    self.gan_loss, self.regularizer = losses.get(config.gan.loss), penalties.get(config.gan)

  def _make_phases(self) -> tuple[base.Phase, ...]:
    block, train = self.config.progan, self.config.train
    if not block.progressive:
      final = self.resolutions[-1]
      return (base.Phase(f'{final}x{final}', train.num_steps, train.batch_size, final),)
    batch_sizes = tuple(block.batch_sizes) or (train.batch_size,) * len(self.resolutions)
    return tuple(base.Phase(f'{r}x{r}', block.steps_per_phase, b, r)
                 for r, b in zip(self.resolutions, batch_sizes))

  def phases(self) -> tuple[base.Phase, ...]:
    return self._phases

  def example_batch(self, phase: base.Phase) -> base.Batch:
    return base.labelled_example_batch(self.config, phase)

  def fingerprint(self) -> dict:
    """The model and, for a progressive run, its growth schedule: resuming with other phase
    lengths, fade or resets would silently change the run (the trainer's phase check passes
    whenever the phase index and data position happen to agree)."""
    # feature_base and max_features only derive model.features (in it): runs from before them
    # resume.
    model = {k: v for k, v in self.config.model.to_dict().items()
             if k not in ('feature_base', 'max_features')}
    fingerprint = {'family': 'progan', 'model': model,
                   'resolutions': list(self.resolutions),
                   'progressive': bool(self.config.progan.progressive),
                   'image_shape': [self.config.data.image_size] * 2 + [self.config.data.channels]}
    if self.config.progan.progressive:
      block = self.config.progan
      fingerprint['schedule'] = {
          'phases': [[p.num_steps, p.batch_size] for p in self._phases],
          'fade_fraction': float(block.fade_fraction),
          'reset_optimizer': bool(block.reset_optimizer)}
      if block.get('mirror_augment', False):  # off: the fingerprint of runs from before it
        fingerprint['schedule']['mirror_augment'] = True
    return fingerprint

  def init(self, rng: jax.Array, batch: base.Batch) -> TrainState:
    del batch  # every resolution's parameters exist from the start
    g_rng, d_rng = jax.random.split(rng)
    final = self.resolutions[-1]
    g_variables = networks.init_all(self.generator, g_rng,
                                    jnp.zeros((1, self.latent_dim), jnp.float32))
    d_variables = networks.init_all(self.discriminator, d_rng,
                                    jnp.zeros((1, final, final, self.config.data.channels)))
    return TrainState.create({
        'generator': NetworkState.create(g_variables, self.generator_optimizer, ema=True),
        'discriminator': NetworkState.create(d_variables, self.discriminator_optimizer,
                                             ema=False)})

  # -- where a step stands ------------------------------------------------------------------

  def level_of_size(self, image_size: int) -> int:
    """The level (index into resolutions) of a batch of image_size x image_size images."""
    return len(self.resolutions) - 1 if not self.config.progan.progressive else (
        self.resolutions.index(image_size))

  def _phase_of_level(self, level: int) -> int:
    return level if self.config.progan.progressive else 0

  def alpha(self, level: int, update: jax.Array) -> jax.Array | None:
    """The fade-in weight of update number `update` (1-based) in phase `level`; None where no
    fade happens (level 0, no fade-in, the baseline): the networks skip the old path."""
    if level == 0 or not self.config.progan.progressive:
      return None
    fade_steps = round(self.config.progan.fade_fraction * self._phases[level].num_steps)
    if fade_steps == 0:
      return None
    start = self.starts[level]
    return jnp.clip((update - start) / fade_steps, 0.0, 1.0).astype(jnp.float32)

  def _reset_at_phase_start(self, network: NetworkState, optimizer, level: int,
                            step: jax.Array) -> NetworkState:
    """Fresh optimizer moments at a phase's first update (the official code's
    reset_opt_for_new_lod), when config.progan.reset_optimizer."""
    phase = self._phase_of_level(level)
    if not self.config.progan.reset_optimizer or phase == 0:
      return network
    fresh = optimizer.init(network.params)
    first = step == self.starts[phase]
    return network.replace(opt_state=jax.tree.map(lambda new, old: jnp.where(first, new, old),
                                                  fresh, network.opt_state))

  # -- training -----------------------------------------------------------------------------

  def _critic(self, level: int, alpha: jax.Array) -> adversarial.Critic:
    gan = self.config.gan
    return adversarial.Critic(
        module=_AtLevel(self.discriminator, level, alpha), optimizer=self.discriminator_optimizer,
        loss=self.gan_loss, regularizer=self.regularizer, penalty_weight=gan.penalty_weight,
        drift_weight=gan.drift_weight, mutable=(),
        microbatches=gradients.microbatches(self.config))

  def train_step(self, state: TrainState, batch: base.Batch, rng: jax.Array):
    level = self.level_of_size(batch['image'].shape[1])
    alpha = self.alpha(level, state.step + 1)
    real = image_lib.normalize_images(batch['image'])
    if self.config.progan.get('mirror_augment', False):  # its own stream: the others unchanged
      real = mirror(real, jax.random.fold_in(rng, _MIRROR_STREAM))
    if alpha is not None:
      real = fade_reals(real, alpha)
    num = real.shape[0]
    g = self._reset_at_phase_start(state.generator, self.generator_optimizer, level, state.step)
    d = self._reset_at_phase_start(state.discriminator, self.discriminator_optimizer, level,
                                   state.step)
    critic = self._critic(level, alpha)
    d_latent_rng, d_rng, g_latent_rng, g_rng = jax.random.split(rng, 4)

    fake = self.generator.apply({'params': g.params},
                                mesh_lib.constrain_to_batch(
                                    jax.random.normal(d_latent_rng, (num, self.latent_dim))),
                                level, alpha)
    d, metrics = adversarial.discriminator_update(
        critic, d, adversarial.Scored(real), adversarial.Scored(fake), d_rng,
        update_index=state.step)

    z = mesh_lib.constrain_to_batch(jax.random.normal(g_latent_rng, (num, self.latent_dim)))

    def generator_objective(params, z, g_rng):
      images = self.generator.apply({'params': params}, z, level, alpha)
      loss = adversarial.generator_adversarial_loss(critic, d, adversarial.Scored(images), g_rng)
      return loss, {}

    (g_loss, _), g_grads = gradients.value_and_grad(
        generator_objective, g.params, z, g_rng, gradients.microbatches(self.config))
    g = g.apply_gradients(g_grads, self.generator_optimizer,
                          ema_decay=self.config.train.ema_decay)
    metrics.update(generator_loss=g_loss, fade_alpha=1.0 if alpha is None else alpha,
                   resolution=jnp.asarray(self.resolutions[level], jnp.float32))
    return state.update(generator=g, discriminator=d), metrics

  # -- sampling -----------------------------------------------------------------------------

  def level_after(self, step: jax.Array) -> jax.Array:
    """The level of the last update after `step` updates (level 0 before the first)."""
    if not self.config.progan.progressive:
      return jnp.asarray(len(self.resolutions) - 1)
    return sum((step > start).astype(jnp.int32) for start in self.starts[1:])

  def generate(self, state: TrainState, z: jax.Array, labels: jax.Array | None = None
               ) -> jax.Array:
    """Images in [-1, 1] from latents: the EMA generator at the level and alpha of the last
    update, upsampled (nearest) to the final resolution."""
    del labels  # unconditional
    params = state.generator.ema_params
    update = jnp.maximum(state.step, 1)
    final = self.resolutions[-1]

    def at_level(level):
      def branch():
        images = self.generator.apply({'params': params}, z, level, self.alpha(level, update))
        return networks.upsample_nearest(images, final // self.resolutions[level])
      return branch

    levels = range(len(self.resolutions)) if self.config.progan.progressive else (
        [len(self.resolutions) - 1])
    branches = [at_level(level) for level in levels]
    images = (branches[0]() if len(branches) == 1
              else jax.lax.switch(self.level_after(update), branches))
    return jnp.clip(images.astype(jnp.float32), -1.0, 1.0)

  def sample(self, state: TrainState, rng: jax.Array, num: int) -> jax.Array:
    return self.generate(state, jax.random.normal(rng, (num, self.latent_dim)))
