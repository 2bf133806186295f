"""ResNet G and D of Miyato et al. 2018 (arXiv:1802.05957, appendix B.4; compare_gan resnet_cifar).

G: Dense to (S/2**k)^2 x widths[0], k up-blocks to widths[1:], then norm -> ReLU -> 3x3 conv ->
tanh. An up-block is norm -> ReLU -> 2x nearest upsampling -> 3x3 conv -> norm -> ReLU -> 3x3
conv, plus a shortcut of upsampling and a 1x1 conv. D: one block per width; the first is the
"optimized" block (conv -> ReLU -> conv -> pool, shortcut pool -> 1x1 conv), the others
ReLU -> conv -> ReLU -> conv (-> 2x2 average pool where `downsample` says so), with a 1x1 conv
shortcut when the shape changes; then ReLU, a sum over positions and the (conditional) head.
With CIFAR-10 widths (256, 256, 256, 256) for G, D widths (128,)*4 and downsample
(True, True, False, False) this is the SNGAN CIFAR ResNet. A SAGAN self-attention block
(models/attention.py) follows the block whose output has side `attention_resolution` (0: none).
"""
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import attention
from jaxgan.models import conditioning
from jaxgan.models import normalization
from jaxgan.models import sndcgan


def upsample(x: jax.Array) -> jax.Array:
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def downsample(x: jax.Array) -> jax.Array:
  return nn.avg_pool(x, (2, 2), strides=(2, 2))


def _conv(width, kernel, opts, train):
  return normalization.spectral(nn.Conv(width, (kernel, kernel), padding='SAME', dtype=opts.dtype),
                                opts.spectral_norm, train, opts.spectral_norm_steps)


class GeneratorBlock(nn.Module):
  width: int
  options: normalization.NetworkOptions

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None, train: bool) -> jax.Array:
    opts = self.options
    norm = lambda y: normalization.Normalization(opts.norm, opts.num_classes, dtype=opts.dtype)(
        y, labels, train)
    y = upsample(nn.relu(norm(x)))
    y = _conv(self.width, 3, opts, train)(y)
    y = _conv(self.width, 3, opts, train)(nn.relu(norm(y)))
    return y + _conv(self.width, 1, opts, train)(upsample(x))


class DiscriminatorBlock(nn.Module):
  width: int
  downsample: bool
  first: bool
  options: normalization.NetworkOptions

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    opts = self.options
    norm_relu = lambda y: nn.relu(normalization.Normalization(opts.norm, dtype=opts.dtype)(
        y, None, train))
    pool = downsample if self.downsample else (lambda y: y)
    if self.first:
      y = _conv(self.width, 3, opts, train)(x)
      y = pool(_conv(self.width, 3, opts, train)(nn.relu(y)))
      return y + _conv(self.width, 1, opts, train)(pool(x))
    y = _conv(self.width, 3, opts, train)(norm_relu(x))
    y = pool(_conv(self.width, 3, opts, train)(norm_relu(y)))
    if self.downsample or x.shape[-1] != self.width:
      x = pool(_conv(self.width, 1, opts, train)(x))
    return x + y


def _check_attention_placed(resolution: int, sides: Sequence[int], network: str) -> None:
  if resolution and resolution not in sides:
    raise ValueError(f'config.model.attention_resolution={resolution} matches no {network} '
                     f'block output (sides {list(sides)}); use one of them or 0.')


class Generator(nn.Module):
  """z [N, latent] -> images [N, S, S, C] in [-1, 1]."""
  widths: Sequence[int]
  image_size: int
  channels: int
  options: normalization.NetworkOptions
  attention_resolution: int = 0

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None, train: bool) -> jax.Array:
    opts = self.options
    start = sndcgan.start_size(self.image_size, len(self.widths) - 1)
    sides = [start * 2 ** (i + 1) for i in range(len(self.widths) - 1)]
    _check_attention_placed(self.attention_resolution, sides, 'generator')
    x = conditioning.generator_input(z, labels, opts.num_classes, opts.norm)
    x = normalization.spectral(nn.Dense(start * start * self.widths[0], dtype=opts.dtype),
                               opts.spectral_norm, train, opts.spectral_norm_steps)(x)
    x = x.reshape(-1, start, start, self.widths[0])
    for width, side in zip(self.widths[1:], sides):
      x = GeneratorBlock(width, opts)(x, labels, train)
      if side == self.attention_resolution:
        x = attention.SelfAttention(opts)(x, train)
    x = nn.relu(normalization.Normalization(opts.norm, opts.num_classes, dtype=opts.dtype)(
        x, labels, train))
    return jnp.tanh(_conv(self.channels, 3, opts, train)(x))


class Discriminator(nn.Module):
  """images [N, S, S, C] -> (logits [N], class logits [N, K] or None)."""
  widths: Sequence[int]
  downsample: Sequence[bool]
  options: normalization.NetworkOptions
  attention_resolution: int = 0

  @nn.compact
  def __call__(self, images: jax.Array, labels: jax.Array | None, train: bool):
    opts = self.options
    if len(self.downsample) != len(self.widths):
      raise ValueError('config.model.discriminator_downsample needs one entry per '
                       f'discriminator width; got {self.downsample} for {self.widths}.')
    sides, side = [], images.shape[1]
    for down in self.downsample:
      side = side // 2 if down else side
      sides.append(side)
    _check_attention_placed(self.attention_resolution, sides, 'discriminator')
    # Attention follows the first block that reaches the resolution.
    attend_after = sides.index(self.attention_resolution) if self.attention_resolution else -1
    x = images
    for index, (width, down) in enumerate(zip(self.widths, self.downsample)):
      x = DiscriminatorBlock(width, down, index == 0, opts)(x, train)
      if index == attend_after:
        x = attention.SelfAttention(opts)(x, train)
    x = jnp.sum(nn.relu(x), axis=(1, 2))
    return conditioning.zoo_head(x, labels, opts, train)


def make_generator(model_config, data_config) -> Generator:
  return Generator(tuple(model_config.generator_widths), data_config.image_size,
                   data_config.channels, normalization.network_options(model_config, 'generator'),
                   model_config.attention_resolution)


def make_discriminator(model_config, data_config) -> Discriminator:
  del data_config  # blocks adapt to any image size
  return Discriminator(tuple(model_config.discriminator_widths),
                       tuple(model_config.discriminator_downsample),
                       normalization.network_options(model_config, 'discriminator'),
                       model_config.attention_resolution)
