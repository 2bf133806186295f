"""Image-to-image networks: pix2pix's U-Net and PatchGAN, the context encoder, partial convolutions.

All take and give NHWC images in [-1, 1].

  UNetGenerator       Isola et al. 2017 (pix2pix, arXiv:1611.07004, appendix 6.1.1): 4x4 stride-2
                      encoder-decoder with skip connections between mirrored layers, dropout as
                      the noise source.
  PatchDiscriminator  pix2pix's PatchGAN: a fully convolutional critic whose logits each see one
                      `patch_receptive_field(num_layers)`-pixel patch (70x70 for 3 layers) of the
                      (condition, image) pair.
  ContextEncoder      Pathak et al. 2016 (arXiv:1604.07379): encoder to 4x4, channel-wise fully
                      connected layer, decoder back to the input size (inpainting).
  PartialConv         Liu et al. 2018 (arXiv:1804.07723, eq. 1-2): a convolution of the valid
                      pixels only, re-weighted by the valid fraction of its window, that also
                      returns the updated mask.
  PartialConvUNet     Liu et al. 2018's U-Net of partial convolutions for free-form holes.

Norm names (`norm`) are those of `normalization.NORMS` that these papers use: 'batch' (state in
the 'batch_stats' collection), 'instance' or 'none'. Convolutions followed by batch norm have no
bias (batch norm's shift replaces it); all others have one.
"""
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import normalization

IMAGE_NORMS = ('batch', 'instance', 'none')
PIX2PIX_INIT = nn.initializers.normal(0.02)  # pix2pix's and DCGAN's N(0, 0.02) weights
_PAD1 = ((1, 1), (1, 1))  # PyTorch's padding=1
# lax.conv_transpose pads the stride-dilated input: k - 1 - p = 2 equals PyTorch's
# ConvTranspose2d(kernel 4, stride 2, padding 1), whose output is exactly twice the input.
_UP_PAD = ((2, 2), (2, 2))


def check_image_norm(norm: str) -> None:
  if norm not in IMAGE_NORMS:
    raise ValueError(f'Unknown image-to-image norm {norm!r}; choose one of {IMAGE_NORMS}.')


def image_norm(norm: str, train: bool, name: str):
  """x -> x normalized by `norm` (identity for 'none')."""
  if norm == 'none':
    return lambda x: x
  layer = normalization.Normalization(norm, name=name)
  return lambda x: layer(x, None, train)


def down_conv(features: int, use_bias: bool, name: str, stride: int = 2) -> nn.Conv:
  """PyTorch's Conv2d(kernel 4, padding 1), N(0, 0.02) weights: stride 2 halves the sides."""
  return nn.Conv(features, (4, 4), strides=(stride, stride), padding=_PAD1, use_bias=use_bias,
                 kernel_init=PIX2PIX_INIT, name=name)


def up_conv(features: int, use_bias: bool, name: str) -> nn.ConvTranspose:
  """PyTorch's ConvTranspose2d(kernel 4, stride 2, padding 1), N(0, 0.02): doubles the sides."""
  return nn.ConvTranspose(features, (4, 4), strides=(2, 2), padding=_UP_PAD, use_bias=use_bias,
                          transpose_kernel=True, kernel_init=PIX2PIX_INIT, name=name)


def check_sides(x: jax.Array, multiple: int, network: str) -> None:
  if x.shape[1] % multiple or x.shape[2] % multiple:
    raise ValueError(f'{network} needs image sides divisible by {multiple}; got '
                     f'{x.shape[1]}x{x.shape[2]}.')


class UNetGenerator(nn.Module):
  """pix2pix's U-Net generator (arXiv:1611.07004, appendix 6.1.1), as the reference
  pytorch-CycleGAN-and-pix2pix UnetGenerator builds it: `depth` 4x4 stride-2 convolutions with
  widths doubling from `features` up to `max_features` (no norm on the outermost and the
  innermost), LeakyReLU(0.2) before each but the first; mirrored ReLU + 4x4 stride-2 transposed
  convolutions + norm, whose outputs are concatenated after the matching encoder activations
  ([skip, decoded]); ReLU, transposed convolution to `out_channels` and tanh at the end.

  Dropout (rate `dropout`, train mode only, rng 'dropout') follows the norm of the
  `dropout_layers` innermost decoder layers as in the paper's CD512-CD1024-CD1024 (the reference
  code instead skips the innermost one and drops the next three). Skips carry the encoder's
  LeakyReLU'd features, as the paper's Conv-BN-LeakyReLU encoder layers and the reference's
  in-place LeakyReLU. `depth` 8 with 256x256 inputs is the paper's network; the default width
  suits the paper, small tasks on CPU should lower `features` and `depth`.
  """
  out_channels: int
  features: int = 64
  depth: int = 8
  max_features: int = 512
  norm: str = 'batch'
  dropout: float = 0.5
  dropout_layers: int = 3
  down_widths: Sequence[int] | None = None  # per encoder layer (pruned); None: the above
  up_widths: Sequence[int] | None = None  # of up_1.. before each concatenation; None: mirrored

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    check_image_norm(self.norm)
    if self.depth < 1:
      raise ValueError(f'UNetGenerator needs depth >= 1, got {self.depth}.')
    check_sides(x, 2 ** self.depth, f'UNetGenerator with depth {self.depth}')
    widths = list(self.down_widths or [min(self.features * 2 ** i, self.max_features)
                                       for i in range(self.depth)])
    up_widths = list(self.up_widths or widths[:-1])
    use_bias = self.norm != 'batch'
    skips = []
    for i, width in enumerate(widths):
      if i:
        x = nn.leaky_relu(x, 0.2)
        skips.append(x)
      inner = i in (0, self.depth - 1)
      x = down_conv(width, use_bias or inner, f'down_{i}')(x)
      if not inner:
        x = image_norm(self.norm, train, f'down_norm_{i}')(x)
    for i in reversed(range(1, self.depth)):
      x = up_conv(up_widths[i - 1], use_bias, f'up_{i}')(nn.relu(x))
      x = image_norm(self.norm, train, f'up_norm_{i}')(x)
      if i >= self.depth - self.dropout_layers:
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
      x = jnp.concatenate([skips[i - 1], x], axis=-1)
    return jnp.tanh(up_conv(self.out_channels, True, 'up_0')(nn.relu(x)))


def patch_receptive_field(num_layers: int) -> int:
  """Input side seen by one PatchDiscriminator logit: num_layers 4x4 stride-2 convolutions and
  two 4x4 stride-1 ones (70 for 3 layers, 34 for 2, 16 for 1)."""
  if num_layers < 1:
    raise ValueError(f'PatchGAN needs num_layers >= 1, got {num_layers}.')
  field = 1
  for stride in [1, 1] + [2] * num_layers:  # from the logit back to the input
    field = (field - 1) * stride + 4
  return field


class PatchDiscriminator(nn.Module):
  """pix2pix's PatchGAN critic (arXiv:1611.07004, section 2.2.2), as the reference
  NLayerDiscriminator: 4x4 convolutions with padding 1, `num_layers` of stride 2 (widths
  doubling from `features`, capped at 8x), one of stride 1, each but the first followed by the
  norm, all by LeakyReLU(0.2); a stride-1 convolution to one logit per patch.

  Called as the adversarial Critic expects: (images, condition, train) -> (logits [N, h, w],
  None). A conditional critic sees the channel concatenation [condition, images], the pix2pix
  (input, output) pair; with condition None it sees the images alone.
  """
  features: int = 64
  num_layers: int = 3
  norm: str = 'batch'

  @nn.compact
  def __call__(self, images: jax.Array, condition: jax.Array | None, train: bool):
    check_image_norm(self.norm)
    patch_receptive_field(self.num_layers)  # raises on num_layers < 1
    x = images if condition is None else jnp.concatenate([condition, images], axis=-1)
    use_bias = self.norm != 'batch'
    x = nn.leaky_relu(down_conv(self.features, True, 'conv_0')(x), 0.2)
    for i in range(1, self.num_layers + 1):
      width = self.features * min(2 ** i, 8)
      stride = 2 if i < self.num_layers else 1
      x = down_conv(width, use_bias, f'conv_{i}', stride)(x)
      x = nn.leaky_relu(image_norm(self.norm, train, f'norm_{i}')(x), 0.2)
    logits = down_conv(1, True, f'conv_{self.num_layers + 1}', stride=1)(x)
    return logits[..., 0], None


class ChannelwiseDense(nn.Module):
  """Pathak et al.'s channel-wise fully connected layer: each channel's H*W map is fully connected
  to H*W outputs, separately per channel (kernel [C, H*W, H*W], no bias, no mixing of channels);
  init N(0, 1/(H*W)) keeps the variance of each output."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    n, h, w, c = x.shape
    size = h * w
    kernel = self.param('kernel', nn.initializers.normal(size ** -0.5), (c, size, size))
    y = jnp.einsum('npc,cpq->nqc', x.reshape(n, size, c), kernel)
    return y.reshape(n, h, w, c)


class ContextEncoder(nn.Module):
  """Pathak et al. 2016's context encoder (arXiv:1604.07379) for square power-of-two inputs:
  4x4 stride-2 convolutions (widths doubling from `features` up to `max_features`, batch norm
  after all but the first, LeakyReLU(0.2)) down to 4x4; the channel-wise fully connected layer
  and a 1x1 convolution to `bottleneck` channels (their stride-1 convolution that propagates
  information across channels) + batch norm + ReLU; 4x4 stride-2 transposed convolutions + batch
  norm + ReLU mirroring the encoder back to the input size; the last to `out_channels`, tanh.

  Differs from the paper: its encoder is AlexNet's pool5 for 227x227 inputs; here the encoder is
  their released code's 4x4-convolution (DCGAN-style) one, its depth set by the input side, and
  the width is the caller's (small on CPU). Weights start N(0, 0.02), as DCGAN and their code.
  """
  out_channels: int
  features: int = 64
  bottleneck: int = 512
  max_features: int = 512

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    side = x.shape[1]
    if side != x.shape[2] or side < 8 or side & (side - 1):
      raise ValueError('ContextEncoder needs square images whose side is a power of two >= 8; '
                       f'got {x.shape[1]}x{x.shape[2]}.')
    stages = side.bit_length() - 3  # halvings from side to 4
    widths = [min(self.features * 2 ** i, self.max_features) for i in range(stages)]
    for i, width in enumerate(widths):
      x = down_conv(width, i == 0, f'down_{i}')(x)
      if i:
        x = image_norm('batch', train, f'down_norm_{i}')(x)
      x = nn.leaky_relu(x, 0.2)
    x = ChannelwiseDense(name='channelwise')(x)
    x = nn.Conv(self.bottleneck, (1, 1), use_bias=False, kernel_init=PIX2PIX_INIT,
                name='mix_channels')(x)
    x = nn.relu(image_norm('batch', train, 'mix_norm')(x))
    for i in reversed(range(1, stages)):
      x = up_conv(widths[i - 1], False, f'up_{i}')(x)
      x = nn.relu(image_norm('batch', train, f'up_norm_{i}')(x))
    return jnp.tanh(up_conv(self.out_channels, True, 'up_0')(x))


class PartialConv(nn.Module):
  """Liu et al. 2018's partial convolution (arXiv:1804.07723, eq. 1-2), k x k, stride `stride`,
  zero padding (k - 1) // 2: y = W^T (X * M) * sum(1) / sum(M) + b where the window holds a
  valid pixel (sum(M) > 0), else 0; the updated mask is 1 there. (x, mask) -> (y, new_mask).

  `mask` is 1 at VALID pixels, shape [N, H, W, 1] (one mask for all channels, broadcast; then
  sum(1) = k * k and sum(M) is the window's count of valid pixels) or [N, H, W, C] (a mask per
  input channel, as the U-Net decoder's concatenated masks; sums then also run over channels).
  `new_mask` is always [N, H', W', 1].
  """
  features: int
  kernel_size: int
  stride: int = 1
  kernel_init: nn.initializers.Initializer = nn.initializers.he_normal()

  @nn.compact
  def __call__(self, x: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    if mask.shape[:-1] != x.shape[:-1] or mask.shape[-1] not in (1, x.shape[-1]):
      raise ValueError(f'PartialConv needs a mask of shape {x.shape[:-1] + (1,)} or {x.shape}; '
                       f'got {mask.shape}.')
    k, pad = self.kernel_size, (self.kernel_size - 1) // 2
    strides, padding = (self.stride, self.stride), ((pad, pad), (pad, pad))
    raw = nn.Conv(self.features, (k, k), strides=strides, padding=padding, use_bias=False,
                  kernel_init=self.kernel_init, name='conv')(x * mask)
    window = jax.lax.conv_general_dilated(
        mask.sum(-1, keepdims=True), jnp.ones((k, k, 1, 1), mask.dtype), strides, padding,
        dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    valid = window > 0
    ratio = k * k * mask.shape[-1] / jnp.where(valid, window, 1.0)
    bias = self.param('bias', nn.initializers.zeros, (self.features,))
    return jnp.where(valid, raw * ratio + bias, 0.0), valid.astype(x.dtype)


def _upsample(x: jax.Array) -> jax.Array:
  """Nearest-neighbour x2."""
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


class PartialConvUNet(nn.Module):
  """Liu et al. 2018's inpainting U-Net of partial convolutions (arXiv:1804.07723, section 3.3):
  encoder partial convolutions of stride 2 (7x7, 5x5, 5x5, then 3x3; widths doubling from
  `features`, capped at 8x; batch norm after all but the first; ReLU); each decoder layer
  upsamples features and mask (nearest x2), concatenates them with the skip's features and mask
  (the last with the input image and its mask) and applies a 3x3 partial convolution, batch norm
  and LeakyReLU(0.2); the last one gives `out_channels` linearly (no norm, no activation, as the
  paper), so callers clip to [-1, 1] and composite the known pixels.

  (x, mask_valid [N, H, W, 1], train) -> image [N, H, W, out_channels]. The sides must be
  divisible by 2**depth. Differs from the paper: `depth` 8 and width 64 at 512x512 there; the
  default depth 5 suits 32-64 pixel images on CPU. Masks are single-channel in the encoder; the
  decoder's concatenated mask is per channel (each part's mask over its channels). He-normal init.
  """
  out_channels: int
  features: int = 64
  depth: int = 5

  @nn.compact
  def __call__(self, x: jax.Array, mask_valid: jax.Array, train: bool) -> jax.Array:
    if self.depth < 1:
      raise ValueError(f'PartialConvUNet needs depth >= 1, got {self.depth}.')
    check_sides(x, 2 ** self.depth, f'PartialConvUNet with depth {self.depth}')
    skips, mask = [(x, mask_valid)], mask_valid
    widths = [self.features * min(2 ** i, 8) for i in range(self.depth)]
    for i, width in enumerate(widths):
      kernel = 7 if i == 0 else 5 if i < 3 else 3
      x, mask = PartialConv(width, kernel, stride=2, name=f'down_{i}')(x, mask)
      if i:
        x = image_norm('batch', train, f'down_norm_{i}')(x)
      x = nn.relu(x)
      skips.append((x, mask))
    skips.pop()
    for i in reversed(range(self.depth)):
      skip, skip_mask = skips[i]
      x, mask = _upsample(x), _upsample(mask)
      masks = [jnp.broadcast_to(mask, x.shape), jnp.broadcast_to(skip_mask, skip.shape)]
      x, mask = PartialConv(widths[i - 1] if i else self.out_channels, 3, name=f'up_{i}')(
          jnp.concatenate([x, skip], axis=-1), jnp.concatenate(masks, axis=-1))
      if i:
        x = nn.leaky_relu(image_norm('batch', train, f'up_norm_{i}')(x), 0.2)
    return x
