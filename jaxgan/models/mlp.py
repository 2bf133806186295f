"""Fully connected G and D, as in the original GAN (Goodfellow et al. 2014, arXiv:1406.2661).

The paper's MNIST nets are MLPs (ReLU/sigmoid G, maxout D with dropout). Here G uses ReLU hidden
layers and a tanh output (images in [-1, 1]) and D LeakyReLU hidden layers, so that the MLP is
a plain baseline for every other axis (norms, spectral norm, conditioning, mixed precision).
"""
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import conditioning
from jaxgan.models import normalization


class Generator(nn.Module):
  """z [N, latent] -> images [N, S, S, C]: Dense + norm + ReLU per width, then Dense + tanh."""
  widths: Sequence[int]
  image_size: int
  channels: int
  options: normalization.NetworkOptions

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None, train: bool) -> jax.Array:
    opts = self.options
    x = conditioning.generator_input(z, labels, opts.num_classes, opts.norm)
    for width in self.widths:
      x = normalization.spectral(nn.Dense(width, dtype=opts.dtype), opts.spectral_norm, train,
                                 opts.spectral_norm_steps)(x)
      x = normalization.Normalization(opts.norm, opts.num_classes, dtype=opts.dtype)(
          x, labels, train)
      x = nn.relu(x)
    size = self.image_size * self.image_size * self.channels
    x = normalization.spectral(nn.Dense(size, dtype=opts.dtype), opts.spectral_norm, train,
                               opts.spectral_norm_steps)(x)
    return jnp.tanh(x).reshape(-1, self.image_size, self.image_size, self.channels)


class Discriminator(nn.Module):
  """images -> (logits, class logits): Dense + norm + LeakyReLU(0.2) per width, then the head.

  The norm is skipped after the first layer (D sees raw pixels there), as in DCGAN.
  """
  widths: Sequence[int]
  options: normalization.NetworkOptions

  @nn.compact
  def __call__(self, images: jax.Array, labels: jax.Array | None, train: bool):
    opts = self.options
    x = images.reshape(images.shape[0], -1)
    for index, width in enumerate(self.widths):
      x = normalization.spectral(nn.Dense(width, dtype=opts.dtype), opts.spectral_norm, train,
                                 opts.spectral_norm_steps)(x)
      if index > 0:
        x = normalization.Normalization(opts.norm, dtype=opts.dtype)(x, None, train)
      x = nn.leaky_relu(x, 0.2)
    return conditioning.zoo_head(x, labels, opts, train)


def make_generator(model_config, data_config) -> Generator:
  return Generator(tuple(model_config.generator_widths), data_config.image_size,
                   data_config.channels, normalization.network_options(model_config, 'generator'))


def make_discriminator(model_config, data_config) -> Discriminator:
  del data_config  # flattens any image size
  return Discriminator(tuple(model_config.discriminator_widths),
                       normalization.network_options(model_config, 'discriminator'))
