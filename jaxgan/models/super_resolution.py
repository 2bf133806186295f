"""Super-resolution networks: SRResNet and ESRGAN's RRDB generator, SRGAN's VGG-style critic.

Generators map low-resolution images in [-1, 1] (NHWC, any size) to `scale` times larger ones on
the same scale; they are fully convolutional. Both follow BasicSR's reference versions:

  SRResNet  Ledig et al. 2017 (arXiv:1609.04802): 9x9 head, residual blocks (conv-ReLU-conv +
            identity), a long skip around the blocks, sub-pixel (pixel-shuffle) x2 stages,
            9x9 tail. Without batch norm, as EDSR (Lim et al. 2017, arXiv:1707.02921) and
            BasicSR's MSRResNet: BN costs quality and memory in SR and makes train and test
            outputs differ.
  RRDB      Wang et al. 2018 (ESRGAN, arXiv:1809.00219): residual-in-residual dense blocks with
            residual scaling 0.2, no BN, LeakyReLU(0.2), nearest-neighbour x2 + conv stages;
            kaiming init scaled by 0.1 in the blocks (their section 3.4).

`image_skip='bicubic'` adds the bicubically upsampled input to the output, so the network
learns the residual to bicubic (BasicSR's MSRResNet adds a bilinear upsampling; VDSR,
Kim et al. 2016, showed residual learning converges much faster). SRResNet's convolutions
start from kaiming init scaled by 0.1, as BasicSR's, so its first outputs are close to bicubic.

The critic is SRGAN's discriminator (their figure 4): eight 3x3 convolutions 64-64-128-128-256-
256-512-512 (stride 2 on every second), batch norm after all but the first, LeakyReLU(0.2),
dense 1024, dense 1. Its dense layer fixes the input size to the training crops.
"""
import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import layers


def _scaled_kaiming(scale: float) -> nn.initializers.Initializer:
  """PyTorch's kaiming_normal_ (fan_in, gain sqrt(2)) times `scale` (BasicSR's init)."""
  return nn.initializers.variance_scaling(2.0 * scale ** 2, 'fan_in', 'normal')


def _conv(features: int, kernel: int = 3, scale: float = 1.0, name: str | None = None):
  return nn.Conv(features, (kernel, kernel), padding='SAME', kernel_init=_scaled_kaiming(scale),
                 name=name)


def upsample_input(images: jax.Array, scale: int) -> jax.Array:
  """Bicubic upsampling (Keys a = -0.5, edge-clamped; no antialiasing is needed upwards)."""
  n, h, w, c = images.shape
  return jax.image.resize(images, (n, h * scale, w * scale, c), 'bicubic')


def upsampling_stages(scale: int) -> int:
  stages = int(round(math.log2(scale)))
  if scale < 2 or 2 ** stages != scale:
    raise ValueError(f'Super-resolution scale must be a power of two >= 2, got {scale}.')
  return stages


class SRResNet(nn.Module):
  """Ledig et al. 2017's generator without BN; see the module docstring."""
  scale: int
  channels: int
  features: int = 64
  num_blocks: int = 16
  image_skip: str = 'bicubic'
  block_widths: Sequence[int] | None = None  # each block's inner width (pruned); None: features

  @nn.compact
  def __call__(self, images: jax.Array) -> jax.Array:
    head = nn.PReLU(negative_slope_init=0.25)(_conv(self.features, 9, 0.1)(images))
    x = head
    for width in self.block_widths or (self.features,) * self.num_blocks:
      y = nn.relu(_conv(width, scale=0.1)(x))
      x = x + _conv(self.features, scale=0.1)(y)
    x = head + _conv(self.features, scale=0.1)(x)
    for _ in range(upsampling_stages(self.scale)):
      x = layers.depth_to_space(_conv(4 * self.features, scale=0.1)(x), (2, 2))
      x = nn.PReLU(negative_slope_init=0.25)(x)
    out = _conv(self.channels, 9, 0.1)(x)
    return out + upsample_input(images, self.scale) if self.image_skip == 'bicubic' else out


class ResidualDenseBlock(nn.Module):
  """Five densely connected 3x3 convolutions; the block's output is scaled by 0.2 and added."""
  features: int
  growth: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    inputs = [x]
    for _ in range(4):
      inputs.append(nn.leaky_relu(_conv(self.growth, scale=0.1)(jnp.concatenate(inputs, -1)),
                                  0.2))
    return x + 0.2 * _conv(self.features, scale=0.1)(jnp.concatenate(inputs, -1))


class RRDBNet(nn.Module):
  """ESRGAN's generator: residual-in-residual dense blocks; see the module docstring."""
  scale: int
  channels: int
  features: int = 64
  num_blocks: int = 23
  growth: int = 32
  image_skip: str = 'none'

  @nn.compact
  def __call__(self, images: jax.Array) -> jax.Array:
    head = _conv(self.features)(images)
    x = head
    for _ in range(self.num_blocks):
      y = x
      for _ in range(3):
        y = ResidualDenseBlock(self.features, self.growth)(y)
      x = x + 0.2 * y
    x = head + _conv(self.features)(x)
    for _ in range(upsampling_stages(self.scale)):
      n, h, w, c = x.shape
      x = jax.image.resize(x, (n, 2 * h, 2 * w, c), 'nearest')
      x = nn.leaky_relu(_conv(self.features)(x), 0.2)
    x = nn.leaky_relu(_conv(self.features)(x), 0.2)
    out = _conv(self.channels)(x)
    return out + upsample_input(images, self.scale) if self.image_skip == 'bicubic' else out


class VggStyleDiscriminator(nn.Module):
  """SRGAN's critic. Called as the adversarial Critic expects: (images, condition, train) ->
  (logits [N], None); `condition` is unused (SR's critic sees the image alone)."""
  widths: Sequence[int] = (64, 64, 128, 128, 256, 256, 512, 512)
  dense_width: int = 1024

  @nn.compact
  def __call__(self, images: jax.Array, condition=None, train: bool = True):
    del condition
    x = images
    for i, width in enumerate(self.widths):
      stride = 2 if i % 2 else 1
      x = nn.Conv(width, (3, 3), strides=(stride, stride), padding='SAME', use_bias=i == 0)(x)
      if i:
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9)(x)
      x = nn.leaky_relu(x, 0.2)
    x = nn.leaky_relu(nn.Dense(self.dense_width)(x.reshape(x.shape[0], -1)), 0.2)
    return nn.Dense(1)(x)[:, 0], None


GENERATORS = {'srresnet': SRResNet, 'rrdb': RRDBNet}
