"""SNDCGAN: the standard CNN of Miyato et al. 2018 (arXiv:1802.05957, table 3), as in compare_gan.

G: Dense to (S/2**k)^2 x widths[0] -> norm -> ReLU, then k = len(widths)-1 stride-2 4x4
transposed convolutions (norm + ReLU after each) and a 3x3 convolution to the image channels with
tanh. D: per width but the last a 3x3 stride-1 and a 4x4 stride-2 convolution, then a 3x3
convolution to the last width, LeakyReLU(0.1) after each, then the (conditional) linear head.
The CIFAR-10 setting is widths (512, 256, 128, 64) for G and (64, 128, 256, 512) for D.
"""
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import conditioning
from jaxgan.models import layers
from jaxgan.models import normalization


def start_size(image_size: int, num_upsamples: int) -> int:
  """Side of G's first feature map; raises if image_size is not start * 2**num_upsamples."""
  start = image_size // 2 ** num_upsamples
  if start < 1 or start * 2 ** num_upsamples != image_size:
    raise ValueError(f'image_size {image_size} must be a multiple of 2**{num_upsamples} (one '
                     f'factor 2 per upsampling stage); change config.model.generator_widths.')
  return start


class Generator(nn.Module):
  """z [N, latent] -> images [N, S, S, C] in [-1, 1]."""
  widths: Sequence[int]
  image_size: int
  channels: int
  options: normalization.NetworkOptions

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None, train: bool) -> jax.Array:
    opts = self.options
    start = start_size(self.image_size, len(self.widths) - 1)

    def layer(module, x):
      return normalization.spectral(module, opts.spectral_norm, train,
                                    opts.spectral_norm_steps)(x)

    def norm_relu(x):
      return nn.relu(normalization.Normalization(opts.norm, opts.num_classes, dtype=opts.dtype)(
          x, labels, train))

    x = conditioning.generator_input(z, labels, opts.num_classes, opts.norm)
    x = layer(nn.Dense(start * start * self.widths[0], dtype=opts.dtype), x)
    x = norm_relu(x.reshape(-1, start, start, self.widths[0]))
    for width in self.widths[1:]:
      x = norm_relu(layer(layers.ConvTranspose(width, (4, 4), strides=(2, 2), padding='SAME',
                                               dtype=opts.dtype), x))
    x = layer(nn.Conv(self.channels, (3, 3), padding='SAME', dtype=opts.dtype), x)
    return jnp.tanh(x)


class Discriminator(nn.Module):
  """images [N, S, S, C] -> (logits [N], class logits [N, K] or None)."""
  widths: Sequence[int]
  options: normalization.NetworkOptions
  leaky_relu_slope: float = 0.1

  @nn.compact
  def __call__(self, images: jax.Array, labels: jax.Array | None, train: bool):
    opts = self.options
    convs = [(width, kernel, stride) for width in self.widths[:-1]
             for kernel, stride in ((3, 1), (4, 2))] + [(self.widths[-1], 3, 1)]
    x = images
    for index, (width, kernel, stride) in enumerate(convs):
      conv = nn.Conv(width, (kernel, kernel), strides=(stride, stride), padding='SAME',
                     dtype=opts.dtype)
      x = normalization.spectral(conv, opts.spectral_norm, train, opts.spectral_norm_steps)(x)
      if index > 0:
        x = normalization.Normalization(opts.norm, dtype=opts.dtype)(x, None, train)
      x = nn.leaky_relu(x, self.leaky_relu_slope)
    x = x.reshape(x.shape[0], -1)
    return conditioning.zoo_head(x, labels, opts, train)


def make_generator(model_config, data_config) -> Generator:
  return Generator(tuple(model_config.generator_widths), data_config.image_size,
                   data_config.channels, normalization.network_options(model_config, 'generator'))


def make_discriminator(model_config, data_config) -> Discriminator:
  del data_config  # convolutions adapt to any image size
  return Discriminator(tuple(model_config.discriminator_widths),
                       normalization.network_options(model_config, 'discriminator'))
