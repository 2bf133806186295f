"""Fast style transfer (Johnson et al. 2016, arXiv:1603.08155): an image transformation network
trained to minimize, on its own output for photographs, the style-transfer objective that
Gatys et al. minimize per image by optimization (jaxgan/style/objective.py), for one style image.

The batches are labelled images (random crops of photographs; labels unused). For a photograph
x and the network's output y = T(x), the loss is the objective with x as the content image:
  content_weight * content(y, x) + style_weight * style(y, s) + tv_weight * tv(y)
with the layers and weights of config.style, so a trained network and jaxgan.stylize optimize
the same function. The style image s (config.style.image: a bundled photograph's name or an
image file, resized to a longer side of config.style.size) and VGG16 are frozen: its Gram
matrices are computed once on the host and reach every step, with the VGG16 weights, through
state.frozen.

Evaluation (`eval_metrics`, per held-out photograph tile): the objective's terms and total of
the network's output, unquantized (the value the optimization would report). The network
applies to any image size (`translate`; sides edge-padded to multiples of 4, then cropped), but
its instance norm uses whole-image statistics: tiles would be normalized apart.
"""
import hashlib

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgan import config_lib
from jaxgan.data import image_files
from jaxgan.data import images as image_lib
from jaxgan.families import base
from jaxgan.families import common
from jaxgan.models import style as models
from jaxgan.pretrained import vgg16
from jaxgan.style import objective as style_transfer
from jaxgan.training import gradients
from jaxgan.training import optim
from jaxgan.training.state import NetworkState
from jaxgan.training.state import TrainState


def read_style_image(block: ml_collections.ConfigDict, channels: int) -> np.ndarray:
  """uint8 [H, W, channels]: config.style.image (a bundled photograph or a file) resized to a
  longer side of config.style.size (0: as it is)."""
  try:
    image = style_transfer.read_style(block.image, channels)
  except (config_lib.ConfigError, image_files.ImageFileError) as e:
    raise config_lib.ConfigError(f'config.style.image: {e}') from None
  image = style_transfer.resize_longer_side(image, block.size)
  style_transfer.check_size(image, 'style', 'raise config.style.size')
  return image


class FastStyleFamily:
  """One TransformNet trained on photographs against config.style's objective."""

  capabilities = frozenset({'translate', 'image_grids', 'eval_metrics', 'frozen'})
  tileable = False  # instance norm: statistics of the whole image

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config
    self.channels = config.data.channels
    if self.channels != 3:
      raise config_lib.ConfigError(f'config.family=\'fast_style\' stylizes RGB photographs: set '
                                   f'config.data.channels=3 (got {self.channels}).')
    self.objective = style_transfer.Objective.from_config(config.style)
    model = config.model
    if config.data.image_size % 4 or config.data.image_size < 16:
      raise config_lib.ConfigError(
          f'config.data.image_size={config.data.image_size}: the transformation network needs a '
          'multiple of 4 and VGG16 at least 16 pixels.')
    if model.features < 1 or model.num_blocks < 0:
      raise config_lib.ConfigError('config.model needs features >= 1 and num_blocks >= 0.')
    self.network = models.TransformNet(self.channels, model.features, model.num_blocks)
    self.style_image = read_style_image(config.style, self.channels)
    self.optimizer = optim.make_optimizer(
        config.optim.generator, optim.make_schedule(config.optim.generator,
                                                    config.train.num_steps))

  def example_batch(self, phase: base.Phase) -> base.Batch:
    return base.labelled_example_batch(self.config, phase)

  def fingerprint(self) -> dict:
    model = {k: list(v) if isinstance(v, tuple) else v for k, v in self.config.model.items()}
    return {'family': self.config.family, 'model': model,
            'objective': {k: list(v) if isinstance(v, tuple) else v
                          for k, v in self.objective._asdict().items()},
            'style_image_sha1': hashlib.sha1(self.style_image.tobytes()).hexdigest(),
            'style_image_shape': list(self.style_image.shape)}

  def init(self, rng: jax.Array, batch: base.Batch) -> TrainState:
    variables = self.network.init(rng, image_lib.normalize_images(batch['image'][:1]), train=False)
    return TrainState.create({'generator': NetworkState.create(variables, self.optimizer,
                                                               ema=False)})

  def frozen_params(self) -> dict:
    """VGG16 and the style image's Gram matrices at the style layers ({layer: [1, C, C]})."""
    vgg = vgg16.load_params()
    style = jnp.asarray(image_lib.normalize_images(self.style_image[None]))
    grams = style_transfer.style_targets(vgg, self.objective, style)
    return {'vgg16': vgg, 'style_grams': jax.tree.map(np.asarray, grams)}

  def _stylize(self, params, images: jax.Array) -> jax.Array:
    return self.network.apply({'params': params}, images, train=False)

  def _losses(self, frozen: dict, outputs: jax.Array, photos: jax.Array, precision) -> dict:
    contents = jax.lax.stop_gradient(style_transfer.content_targets(
        frozen['vgg16'], self.objective, photos, precision))
    return style_transfer.losses(frozen['vgg16'], self.objective, outputs, contents,
                                 frozen['style_grams'], precision)

  def train_step(self, state: TrainState, batch: base.Batch, rng: jax.Array):
    photos = image_lib.normalize_images(batch['image'])

    def loss_fn(params, photos, rng):
      del rng  # the network and the objective are deterministic
      terms = self._losses(state.frozen, self._stylize(params, photos), photos,
                           jax.lax.Precision.DEFAULT)
      terms = {name: jnp.mean(value) for name, value in terms.items()}
      return terms['total'], terms

    (_, terms), grads = gradients.value_and_grad(loss_fn, state.generator.params, photos, rng,
                                                 gradients.microbatches(self.config))
    generator = state.generator.apply_gradients(grads, self.optimizer)
    metrics = {'generator_loss': terms.pop('total'), **terms}
    return state.update(generator=generator), metrics

  def translate(self, state: TrainState, inputs: jax.Array) -> jax.Array:
    """Stylized images in [-1, 1] of uint8 inputs [N, h, w, 3] of any size (h, w >= 8)."""
    height, width = inputs.shape[1:3]
    padded = common.pad_to_multiple(image_lib.normalize_images(inputs), 4)
    return self._stylize(state.generator.params, padded)[:, :height, :width]

  def image_grids(self, state: TrainState, rng: jax.Array, batch: base.Batch) -> dict:
    """One row per photograph: photograph | stylized."""
    del rng
    rows = [image_lib.normalize_images(batch['image']), self.translate(state, batch['image'])]
    return {'photo_stylized': jnp.concatenate(rows, axis=2)}

  def eval_metrics(self, state: TrainState, batch: base.Batch, rng: jax.Array) -> dict:
    del rng
    outputs = self.translate(state, batch['image'])
    return self._losses(state.frozen, outputs, image_lib.normalize_images(batch['image']),
                        style_transfer.HIGHEST)

  def eval_protocol(self) -> dict:
    return {'outputs': 'the trained network (no EMA) on each held-out tile, unquantized',
            'objective': 'jaxgan/style/objective.py with config.style (the tile is the content '
                         'image)',
            'style_image': self.config.style.image,
            'style_image_shape': list(self.style_image.shape)}
