"""Unpaired image-to-image networks: CycleGAN's ResNet generator, DiscoGAN's generator and critic.

All take and give NHWC images in [-1, 1].

  ResnetGenerator          Zhu et al. 2017 (CycleGAN, arXiv:1703.10593, appendix 7.2), after
                           Johnson et al. 2016 (arXiv:1603.08155): reflection-padded 7x7 convs
                           at both ends, stride-2 down- and upsampling, residual blocks between.
  EncoderDecoderGenerator  Kim et al. 2017 (DiscoGAN, arXiv:1703.05192): 4x4 stride-2
                           encoder-decoder without skip connections.
  ImageDiscriminator       DiscoGAN's critic: 4x4 stride-2 convolutions, then one convolution
                           spanning the remaining map to a single logit per image.

Norm names (`norm`) are image_to_image.IMAGE_NORMS: 'batch' (state in 'batch_stats'),
'instance' (affine) or 'none'. As in image_to_image, convolutions followed by batch norm have no
bias and all others have one; weights start N(0, 0.02) as in both reference codes.
"""
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models.image_to_image import (PIX2PIX_INIT, check_image_norm, check_sides, down_conv,
                                          image_norm, up_conv)

# PyTorch's ConvTranspose2d(kernel 3, stride 2, padding 1, output_padding 1): lax.conv_transpose
# pads the stride-dilated input (2n - 1 pixels) by k - 1 - p = 1 before and 1 + output_padding = 2
# after, so the output is exactly 2n.
_UP3_PAD = ((1, 2), (1, 2))


def reflect_conv(x: jax.Array, features: int, kernel: int, use_bias: bool, name: str,
                 stride: int = 1):
  """Reflection padding by kernel // 2 (PyTorch's ReflectionPad2d), then a VALID k x k conv with
  N(0, 0.02) weights and stride `stride` (stride 2 halves even sides)."""
  pad = kernel // 2
  x = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode='reflect')
  return nn.Conv(features, (kernel, kernel), strides=(stride, stride), padding='VALID',
                 use_bias=use_bias, kernel_init=PIX2PIX_INIT, name=name)(x)


class ResnetGenerator(nn.Module):
  """CycleGAN's generator (arXiv:1703.10593, appendix 7.2: c7s1-64, d128, d256, 9 x R256, u128,
  u64, c7s1-3), as the reference pytorch-CycleGAN-and-pix2pix ResnetGenerator builds it:
  reflection pad 3 + 7x7 conv to `features` + norm + ReLU; `downsamplings` 3x3 stride-2
  convolutions (padding 1) doubling the width, each + norm + ReLU; `num_blocks` residual blocks
  x + (reflect pad 1, 3x3 conv, norm, ReLU, reflect pad 1, 3x3 conv, norm); `downsamplings` 3x3
  stride-2 transposed convolutions (exactly twice the sides) halving the width, each + norm +
  ReLU; reflection pad 3 + 7x7 conv to `out_channels` + tanh.

  The paper uses 9 blocks at 256x256 and 6 at 128x128. Image sides must be divisible by
  2**downsamplings and at least max(4, 2**(downsamplings + 1)): reflection padding needs more
  pixels than it pads (3 at full size, 1 in the blocks). Differs from the reference: its instance
  norm has no affine scale and shift (ours starts as the identity affine map), and its
  norm='none' drops the conv biases (here only batch norm does).
  """
  out_channels: int
  features: int = 64
  num_blocks: int = 9
  norm: str = 'instance'
  downsamplings: int = 2
  block_widths: Sequence[int] | None = None  # each block's inner width (pruned); None: trunk's

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    check_image_norm(self.norm)
    if self.num_blocks < 0 or self.downsamplings < 0:
      raise ValueError('ResnetGenerator needs num_blocks >= 0 and downsamplings >= 0; got '
                       f'{self.num_blocks} and {self.downsamplings}.')
    multiple = 2 ** self.downsamplings
    smallest = max(4, 2 * multiple)
    if x.shape[1] % multiple or x.shape[2] % multiple or min(x.shape[1:3]) < smallest:
      raise ValueError(f'ResnetGenerator with {self.downsamplings} downsamplings needs image '
                       f'sides divisible by {multiple} and at least {smallest} (reflection '
                       f'padding needs more pixels than it pads); got {x.shape[1]}x{x.shape[2]}.')
    use_bias = self.norm != 'batch'
    norm = lambda name: image_norm(self.norm, train, name)
    x = nn.relu(norm('in_norm')(reflect_conv(x, self.features, 7, use_bias, 'in_conv')))
    width = self.features
    for i in range(self.downsamplings):
      width *= 2
      x = nn.Conv(width, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)), use_bias=use_bias,
                  kernel_init=PIX2PIX_INIT, name=f'down_{i}')(x)
      x = nn.relu(norm(f'down_norm_{i}')(x))
    for b, inner in enumerate(self.block_widths or (width,) * self.num_blocks):
      y = reflect_conv(x, inner, 3, use_bias, f'block_{b}_conv_0')
      y = nn.relu(norm(f'block_{b}_norm_0')(y))
      y = reflect_conv(y, width, 3, use_bias, f'block_{b}_conv_1')
      x = x + norm(f'block_{b}_norm_1')(y)
    for i in reversed(range(self.downsamplings)):
      width //= 2
      x = nn.ConvTranspose(width, (3, 3), strides=(2, 2), padding=_UP3_PAD, use_bias=use_bias,
                           transpose_kernel=True, kernel_init=PIX2PIX_INIT, name=f'up_{i}')(x)
      x = nn.relu(norm(f'up_norm_{i}')(x))
    return jnp.tanh(reflect_conv(x, self.out_channels, 7, True, 'out_conv'))


def _check_depth(network: str, depth: int, x: jax.Array) -> None:
  if depth < 1:
    raise ValueError(f'{network} needs depth >= 1, got {depth}.')
  check_sides(x, 2 ** depth, f'{network} with depth {depth}')


def _encode(x: jax.Array, features: int, depth: int, norm: str,
            train: bool) -> tuple[jax.Array, list[int]]:
  """DiscoGAN's encoder, in the caller's compact scope: `depth` 4x4 stride-2 convolutions
  (widths features * 2**i), norm on all but the first, LeakyReLU(0.2). Returns (x, widths)."""
  widths = [features * 2 ** i for i in range(depth)]
  for i, width in enumerate(widths):
    x = down_conv(width, i == 0 or norm != 'batch', f'down_{i}')(x)
    if i:
      x = image_norm(norm, train, f'down_norm_{i}')(x)
    x = nn.leaky_relu(x, 0.2)
  return x, widths


class EncoderDecoderGenerator(nn.Module):
  """DiscoGAN's generator (arXiv:1703.05192, section 4; the official SKTBrain/DiscoGAN
  Generator): the encoder of `depth` 4x4 stride-2 convolutions (widths doubling from `features`,
  norm after all but the first, LeakyReLU(0.2)), then `depth` 4x4 stride-2 transposed
  convolutions mirroring the widths, each + norm + ReLU, the last to `out_channels` + tanh (no
  norm). No skip connections: everything passes the (side / 2**depth) bottleneck.

  Sides must be divisible by 2**depth; depth 4 at 64x64 is the paper's network. Differs from the
  official code: it has no conv biases at all and a sigmoid output for [0, 1] images; here the
  convolutions not followed by batch norm keep a bias and the output is tanh ([-1, 1]).
  """
  out_channels: int
  features: int = 64
  depth: int = 4
  norm: str = 'batch'

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    check_image_norm(self.norm)
    _check_depth('EncoderDecoderGenerator', self.depth, x)
    x, widths = _encode(x, self.features, self.depth, self.norm, train)
    for i in reversed(range(1, self.depth)):
      x = up_conv(widths[i - 1], self.norm != 'batch', f'up_{i}')(x)
      x = nn.relu(image_norm(self.norm, train, f'up_norm_{i}')(x))
    return jnp.tanh(up_conv(self.out_channels, True, 'up_0')(x))


class ImageDiscriminator(nn.Module):
  """DiscoGAN's critic (arXiv:1703.05192; the official code's Discriminator): the generator's
  encoder (`depth` 4x4 stride-2 convolutions, widths doubling from `features`, norm after all but
  the first, LeakyReLU(0.2)), then one VALID convolution whose kernel spans the whole remaining
  (side / 2**depth) map, to one logit per image: the official 4x4 convolution for 64x64 inputs
  and depth 4. Its kernel shape thus follows the image size the critic was initialized on.

  Called as the adversarial Critic expects: (images, condition, train) -> (logits [N], None);
  with a condition image the critic sees the channel concatenation [condition, images], as
  PatchDiscriminator. Sides must be divisible by 2**depth. The official code's sigmoid output
  lives in the loss here.
  """
  features: int = 64
  depth: int = 4
  norm: str = 'batch'

  @nn.compact
  def __call__(self, images: jax.Array, condition: jax.Array | None, train: bool):
    check_image_norm(self.norm)
    _check_depth('ImageDiscriminator', self.depth, images)
    x = images if condition is None else jnp.concatenate([condition, images], axis=-1)
    x, _ = _encode(x, self.features, self.depth, self.norm, train)
    logits = nn.Conv(1, x.shape[1:3], padding='VALID', kernel_init=PIX2PIX_INIT,
                     name=f'conv_{self.depth}')(x)
    return logits[:, 0, 0, 0], None
