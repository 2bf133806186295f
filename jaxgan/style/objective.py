"""Neural style transfer's objective on VGG16 features (Gatys et al. 2016, "Image Style Transfer
Using Convolutional Neural Networks", CVPR; arXiv:1508.06576), shared by the optimization
(jaxgan/stylize.py) and the feed-forward network trained on it (Johnson et al. 2016,
arXiv:1603.08155; jaxgan/families/fast_style.py).

For an image x in [-1, 1] (NHWC; greyscale is repeated to RGB), a content image c and a style
image s, with F_l the VGG16 activation at layer l (jaxgan/pretrained/vgg16.py), h_l w_l its
positions and C_l its channels:

  content(x) = mean over content layers of  mean_{h, w, C} (F_l(x) - F_l(c))^2
  style(x)   = sum over the L style layers of  (1 / L) * 1/4 * sum_{i, j} (g_l(x) - g_l(s))_ij^2
               with the Gram matrix g_l = F_l^T F_l / (C_l h_l w_l)  [C_l x C_l]
  tv(x)      = mean_{pixels, channels} ((x_{i+1,j} - x_ij)^2 + (x_{i,j+1} - x_ij)^2)
  total      = content_weight * content + style_weight * style + tv_weight * tv

The style term is Gatys et al.'s E_l = sum (G - A)^2 / (4 N_l^2 M_l^2) (their Eq. 4, N_l = C_l,
M_l = h_l w_l) with equal layer weights w_l = 1/L. Their content term is the sum
1/2 sum (F - P)^2; the mean used here makes the weights independent of the image size (multiply
content_weight by h_l w_l C_l / 2 to convert). The total-variation term (Mahendran & Vedaldi
2015, beta = 2) is Johnson et al.'s regularizer. The style image may have another size than x:
Gram matrices do not depend on positions.

Colour preservation (Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style
Transfer", arXiv:1611.07865, luminance-only transfer): content and style go to YIQ, the style's
luminance is matched to the content's mean and standard deviation, the transfer runs on
luminance alone, and the result's Y is joined with the content's I and Q.

Style images are image files or bundled photographs by name (read_style), resized by their
longer side (resize_longer_side); both sides must be >= 16 pixels (check_size), VGG16's
deepest pool.
"""
from typing import NamedTuple

import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from PIL import Image

from jaxgan import config_lib
from jaxgan.data import image_files
from jaxgan.data import image_sets
from jaxgan.pretrained import vgg16

GATYS_CONTENT_LAYERS = ('relu4_2',)
GATYS_STYLE_LAYERS = ('relu1_1', 'relu2_1', 'relu3_1', 'relu4_1', 'relu5_1')
JOHNSON_CONTENT_LAYERS = ('relu2_2',)
JOHNSON_STYLE_LAYERS = ('relu1_2', 'relu2_2', 'relu3_3', 'relu4_3')
# float32 on GPUs; training may pass DEFAULT (TF32 / bf16 passes).
HIGHEST = jax.lax.Precision.HIGHEST
TERMS = ('content_loss', 'style_loss', 'tv_loss')
# RGB -> YIQ (NTSC 1953, as skimage.color.rgb2yiq); rows are Y, I, Q.
_YIQ = np.array([[0.299, 0.587, 0.114],
                 [0.59590059, -0.27455667, -0.32134392],
                 [0.21153661, -0.52273617, 0.31119955]], np.float32)


class Objective(NamedTuple):
  """Which VGG16 layers carry content and style, and the three terms' weights."""
  content_layers: tuple[str, ...]
  style_layers: tuple[str, ...]
  content_weight: float
  style_weight: float
  tv_weight: float

  @classmethod
  def from_config(cls, block: ml_collections.ConfigDict, where: str = 'config.style'
                  ) -> 'Objective':
    """The objective of a `style` config block; one ConfigError line for a bad field."""
    objective = cls(tuple(block.content_layers), tuple(block.style_layers),
                    float(block.content_weight), float(block.style_weight),
                    float(block.tv_weight))
    try:
      objective.check()
    except ValueError as e:
      raise config_lib.ConfigError(f'{where}: {e}') from None
    return objective

  def check(self) -> None:
    """A ValueError for an unknown or missing layer or a negative weight."""
    for field in ('content_layers', 'style_layers'):
      layers = getattr(self, field)
      unknown = [name for name in layers if name not in vgg16.LAYERS]
      if unknown or not layers:
        raise ValueError(f'{field} must name VGG16 layers (vgg16.LAYERS, e.g. relu4_2); got '
                         f'{list(layers)}.')
    for field in ('content_weight', 'style_weight', 'tv_weight'):
      if getattr(self, field) < 0:
        raise ValueError(f'{field} must be >= 0, got {getattr(self, field)}.')

  @property
  def layers(self) -> tuple[str, ...]:
    return tuple(dict.fromkeys(self.content_layers + self.style_layers))

  def total(self, terms: dict) -> jax.Array:
    return (self.content_weight * terms['content_loss'] + self.style_weight * terms['style_loss']
            + self.tv_weight * terms['tv_loss'])


# jaxgan.stylize's defaults and configs/fast_style.py's: Gatys et al.'s layers, style weight 1.
# At 10 (and 1e4) a fast network trained for 600 steps (experiments/style_transfer.py) learned
# the bare style texture and ignored its input; at 1 it keeps the content. Raise it for a
# stronger style.
DEFAULT = Objective(GATYS_CONTENT_LAYERS, GATYS_STYLE_LAYERS, content_weight=1.0,
                    style_weight=1.0, tv_weight=0.0)


def gram(features: jax.Array, precision=HIGHEST) -> jax.Array:
  """Gram matrices [N, C, C] of features [N, h, w, C], normalized by C h w (Gatys et al.)."""
  n, h, w, c = features.shape
  flat = features.reshape(n, h * w, c)
  return jnp.einsum('npc,npd->ncd', flat, flat, precision=precision) / (c * h * w)


def content_targets(vgg_params, objective: Objective, images: jax.Array, precision=HIGHEST
                    ) -> dict:
  """{layer: F_l(images)} at the content layers (one per content image)."""
  return vgg16.features(vgg_params, images, objective.content_layers, precision)


def style_targets(vgg_params, objective: Objective, style_image: jax.Array, precision=HIGHEST
                  ) -> dict:
  """{layer: g_l(style_image) [1, C, C]} at the style layers, for one style image [1, H, W, C]."""
  features = vgg16.features(vgg_params, style_image, objective.style_layers,
                            precision)
  return {layer: gram(features[layer], precision) for layer in objective.style_layers}


def total_variation(images: jax.Array) -> jax.Array:
  """Per image [N]: mean over pixels and channels of squared vertical plus horizontal
  neighbour differences (the last row and column have no neighbour: their terms are 0)."""
  x = images.astype(jnp.float32)
  n, h, w, c = x.shape
  vertical = jnp.sum(jnp.square(x[:, 1:] - x[:, :-1]), axis=(1, 2, 3))
  horizontal = jnp.sum(jnp.square(x[:, :, 1:] - x[:, :, :-1]), axis=(1, 2, 3))
  return (vertical + horizontal) / (h * w * c)


def losses(vgg_params, objective: Objective, images: jax.Array, contents: dict, grams: dict,
           precision=HIGHEST) -> dict:
  """Per image [N]: {'content_loss', 'style_loss', 'tv_loss', 'total'} of `images` against
  content features `contents` ({layer: [N, ...]}) and style Gram matrices `grams` ({layer:
  [1 or N, C, C]}), as the module docstring defines them."""
  features = vgg16.features(vgg_params, images, objective.layers, precision)
  content = sum(jnp.mean(jnp.square(features[l] - contents[l]), axis=(1, 2, 3))
                for l in objective.content_layers) / len(objective.content_layers)
  style = sum(jnp.sum(jnp.square(gram(features[l], precision) - grams[l]), axis=(1, 2))
              for l in objective.style_layers) / (4 * len(objective.style_layers))
  terms = {'content_loss': content, 'style_loss': style, 'tv_loss': total_variation(images)}
  return {**terms, 'total': objective.total(terms)}


def rgb_to_yiq(images: jax.Array) -> jax.Array:
  """[..., 3] RGB in [-1, 1] -> YIQ of the [0, 1] colours (Y in [0, 1])."""
  return jnp.einsum('...c,yc->...y', (images + 1) / 2, jnp.asarray(_YIQ),
                    precision=jax.lax.Precision.HIGHEST)


def yiq_to_rgb(yiq: jax.Array) -> jax.Array:
  """Inverse of rgb_to_yiq: [..., 3] YIQ -> RGB in [-1, 1] (not clipped)."""
  inverse = jnp.asarray(np.linalg.inv(_YIQ.astype(np.float64)).astype(np.float32))
  return jnp.einsum('...y,cy->...c', yiq, inverse, precision=jax.lax.Precision.HIGHEST) * 2 - 1


def luminance_images(content: jax.Array, style: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Colour preservation's inputs: the content's luminance and the style's luminance matched to
  the content's mean and standard deviation, as 1-channel images in [-1, 1] scale (Y * 2 - 1)."""
  content_y = rgb_to_yiq(content)[..., :1]
  style_y = rgb_to_yiq(style)[..., :1]
  matched = ((style_y - jnp.mean(style_y)) * jnp.std(content_y) / jnp.maximum(jnp.std(style_y),
                                                                              1e-6)
             + jnp.mean(content_y))
  return content_y * 2 - 1, matched * 2 - 1


def with_content_colour(luminance: jax.Array, content: jax.Array) -> jax.Array:
  """RGB in [-1, 1] (clipped) from a stylized luminance (1 channel, [-1, 1] scale) and the
  content image's I and Q."""
  yiq = jnp.concatenate([(luminance + 1) / 2, rgb_to_yiq(content)[..., 1:]], axis=-1)
  return jnp.clip(yiq_to_rgb(yiq), -1.0, 1.0)


def resize_longer_side(image: np.ndarray, side: int) -> np.ndarray:
  """uint8 [H, W, C] resized (PIL bicubic) so that its longer side is `side`; 0: unchanged."""
  height, width = image.shape[:2]
  if not side or max(height, width) == side:
    return image
  scale = side / max(height, width)
  size = (max(1, round(width * scale)), max(1, round(height * scale)))
  channels = [np.asarray(Image.fromarray(image[..., c]).resize(size, Image.BICUBIC))
              for c in range(image.shape[-1])]
  return np.stack(channels, axis=-1)


def read_style(name_or_path: str, channels: int = 3) -> np.ndarray:
  """uint8 [H, W, channels] of an image file or a bundled photograph's name."""
  bundled = image_sets.PHOTOS
  if name_or_path in bundled and not os.path.exists(name_or_path):
    return image_sets.photo(name_or_path, channels)
  if not os.path.isfile(name_or_path):
    raise config_lib.ConfigError(f'Style {name_or_path!r} is neither an image file nor a bundled '
                                 f'photograph ({", ".join(sorted(bundled))}).')
  image_files.check_images([name_or_path], channels)
  return image_files.read_image(name_or_path, channels)


def check_size(image: np.ndarray, what: str, fix: str) -> None:
  """A ConfigError for an image too small for the deepest VGG16 pool (16 px); `fix` says how
  to make it larger."""
  if min(image.shape[:2]) < 16:
    raise config_lib.ConfigError(f'The {what} image is {image.shape[1]}x{image.shape[0]}: '
                                 f'style transfer needs both sides >= 16 ({fix}).')
