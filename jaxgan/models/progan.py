"""Networks of Progressive Growing of GANs (Karras et al. 2018, arXiv:1710.10196).

Layers and architecture follow the paper (Sec. 2-4, Table 2) and, where it is silent, the
official code (tkarras/progressive_growing_of_gans, networks.py: G_paper, D_paper, 'linear'
structure); NHWC throughout.

  he_scale           He's constant gain / sqrt(fan_in).
  EqualizedDense     Dense / 3x3 or 1x1 convolution with the equalized learning rate (Sec. 4.1):
  EqualizedConv        N(0, 1) kernels scaled by He's constant at run time.
  pixel_norm         Pixelwise feature normalisation (Sec. 4.2).
  minibatch_stddev   The official minibatch standard deviation layer (Sec. 3).
  upsample_nearest, downsample_average   Resampling between resolutions.
  Generator, Discriminator   The growing networks: `__call__(x, level, alpha)` runs the network of
                     phase `level` (a static int) with the new block faded in by `alpha`.
  init_all           Creates every resolution's parameters in one init.

A convolution followed by a 2x average pool (or preceded by a nearest 2x upsample) is what the
official code's fused `conv2d_downscale2d` (`upscale2d_conv2d`) computes, up to the order of
pooling and LReLU in D, where we keep the paper's (and the unfused official) LReLU-then-pool.
"""
import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models.style import upsample_nearest

SQRT2 = math.sqrt(2.0)


def he_scale(fan_in: int, gain: float = SQRT2) -> float:
  """He et al.'s (arXiv:1502.01852) per-layer normalisation constant gain / sqrt(fan_in)."""
  return gain / math.sqrt(fan_in)


def _kernel(module: nn.Module, shape: tuple, fan_in: int, gain: float, equalized: bool):
  """The effective kernel: N(0, 1) times He's constant at run time when `equalized` (so Adam's
  scale-invariant steps are equally large, relative to the weights, in every layer; Sec. 4.1),
  else drawn as N(0, he_scale^2) once (the paper's ablation baseline)."""
  scale = he_scale(fan_in, gain)
  kernel = module.param('kernel', nn.initializers.normal(1.0 if equalized else scale), shape)
  return kernel * scale if equalized else kernel


class EqualizedDense(nn.Module):
  """x [..., fan_in] -> [..., features]; bias zero-initialised and never scaled."""
  features: int
  gain: float = SQRT2
  equalized: bool = True
  use_bias: bool = True

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    fan_in = x.shape[-1]
    y = x @ _kernel(self, (fan_in, self.features), fan_in, self.gain, self.equalized)
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros_init(), (self.features,))
    return y


class EqualizedConv(nn.Module):
  """[N, H, W, C] -> [N, H, W, features]: stride 1, 'SAME' padding, kernel [kh, kw, C, features]
  (fan_in = kh * kw * C), bias zero-initialised and never scaled."""
  features: int
  kernel_size: int | Sequence[int]
  gain: float = SQRT2
  equalized: bool = True

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    size = self.kernel_size
    kh, kw = (size, size) if isinstance(size, int) else tuple(size)
    fan_in = kh * kw * x.shape[-1]
    kernel = _kernel(self, (kh, kw, x.shape[-1], self.features), fan_in, self.gain,
                     self.equalized)
    y = jax.lax.conv_general_dilated(x, kernel, (1, 1), 'SAME',
                                     dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    return y + self.param('bias', nn.initializers.zeros_init(), (self.features,))


def pixel_norm(x: jax.Array, eps: float = 1e-8) -> jax.Array:
  """x / sqrt(mean over channels (last axis) of x^2 + eps), per pixel (Sec. 4.2)."""
  return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + eps)


def minibatch_stddev(x: jax.Array, group_size: int = 4) -> jax.Array:
  """[N, H, W, C] -> [N, H, W, C + 1], the paper's layer (Sec. 3).

  G = min(group_size, N) must divide N. The groups are contiguous: examples gG .. gG + G - 1
  form group g. (The official code's reshape makes strided groups, i % (N / G); contiguous
  ones keep reals and fakes apart when D scores a batch of N reals followed by N fakes, as
  adversarial.discriminator_update does, with N a multiple of G.) Per group: the population
  std over its G members (+1e-8 inside the sqrt) of every feature at every pixel, averaged over
  features and pixels into one scalar, appended as a constant channel to each member.
  """
  n, h, w, c = x.shape
  groups = min(group_size, n)
  if group_size < 1 or n % groups:
    raise ValueError(f'minibatch_stddev: batch {n} must be divisible by min(group_size, batch)'
                     f' = {groups} (group_size {group_size}).')
  y = x.reshape(n // groups, groups, h, w, c).astype(jnp.float32)
  std = jnp.sqrt(jnp.var(y, axis=1) + 1e-8).mean(axis=(1, 2, 3))  # [N / G]
  std = jnp.repeat(std, groups).astype(x.dtype)  # example g * G + j gets group g's value
  return jnp.concatenate([x, jnp.broadcast_to(std[:, None, None, None], (n, h, w, 1))], -1)


def downsample_average(x: jax.Array, factor: int = 2) -> jax.Array:
  """[N, H, W, C] -> [N, H / factor, W / factor, C]: the mean of each factor x factor block."""
  n, h, w, c = x.shape
  if not isinstance(factor, int) or factor < 1 or h % factor or w % factor:
    raise ValueError(f'downsample_average needs a positive integer factor dividing {h}x{w}; '
                     f'got {factor!r}.')
  return x.reshape(n, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))


def _lerp(old: jax.Array, new: jax.Array, alpha) -> jax.Array:
  """(1 - alpha) * old + alpha * new: exactly `old` at 0 and exactly `new` at 1."""
  alpha = jnp.asarray(alpha, new.dtype)
  return (1 - alpha) * old + alpha * new


def check_architecture(resolutions: Sequence[int], features: Sequence[int]) -> None:
  """ValueError unless resolutions are 4, 8, 16, ... and there is one feature width for each."""
  expected = tuple(4 * 2 ** k for k in range(len(resolutions)))
  if not resolutions or tuple(resolutions) != expected:
    raise ValueError(f'ProGAN resolutions must double from 4 (4, 8, 16, ...); got {resolutions}.')
  if len(features) != len(resolutions):
    raise ValueError(f'ProGAN needs one feature width per resolution; got features {features} '
                     f'for resolutions {resolutions}.')


def _check_level(resolutions: Sequence[int], level: int) -> int:
  if not isinstance(level, int) or not 0 <= level < len(resolutions):
    raise ValueError(f'level must be a static int in [0, {len(resolutions)}); got {level!r}.')
  return resolutions[level]


class _GeneratorBlock(nn.Module):
  """The 4x4 block (dense to 4x4, conv3x3) or a grown one (nearest 2x, conv3x3, conv3x3), every
  layer followed by LReLU and pixel norm. The dense layer's bias is per channel, added after the
  reshape to 4x4, and its gain is sqrt(2)/4, as the official code."""
  features: int
  first: bool
  equalized: bool
  pixel_norm: bool
  slope: float

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    def activate(y):
      y = nn.leaky_relu(y, self.slope)
      return pixel_norm(y) if self.pixel_norm else y
    conv = lambda name: EqualizedConv(self.features, 3, equalized=self.equalized, name=name)
    if self.first:
      x = EqualizedDense(16 * self.features, gain=SQRT2 / 4, equalized=self.equalized,
                         use_bias=False, name='dense')(x)
      x = x.reshape(-1, 4, 4, self.features)
      x = activate(x + self.param('bias', nn.initializers.zeros_init(), (self.features,)))
      return activate(conv('conv')(x))
    x = activate(conv('conv0')(upsample_nearest(x, 2)))
    return activate(conv('conv1')(x))


class Generator(nn.Module):
  """z [N, latent] -> images [N, r, r, channels], r = resolutions[level], linear output.

  Level k runs block_4 ... block_r and to_rgb_r (1x1 conv, gain 1); for k > 0 the new block is
  faded in: lerp(upsample_nearest(to_rgb_{r/2}(h), 2), to_rgb_r(block_r(h)), alpha) with h the
  output of block_{r/2}, so alpha = 0 is phase k-1's network (upsampled) and 1 the new block
  alone; alpha None skips the old path (no fade: the same output as 1). `normalize_latents`
  pixel-normalises z, a separate switch in the official code.
  """
  resolutions: Sequence[int]
  features: Sequence[int]
  channels: int
  equalized_lr: bool = True
  pixel_norm: bool = True
  leaky_relu_slope: float = 0.2
  normalize_latents: bool = True

  def setup(self):
    check_architecture(self.resolutions, self.features)
    self.block = {r: _GeneratorBlock(f, k == 0, self.equalized_lr, self.pixel_norm,
                                     self.leaky_relu_slope)
                  for k, (r, f) in enumerate(zip(self.resolutions, self.features))}
    self.to_rgb = {r: EqualizedConv(self.channels, 1, gain=1.0, equalized=self.equalized_lr)
                   for r in self.resolutions}

  def __call__(self, z: jax.Array, level: int, alpha) -> jax.Array:
    r = _check_level(self.resolutions, level)
    h = pixel_norm(z) if self.normalize_latents else z
    for below in self.resolutions[:level]:
      h = self.block[below](h)
    if level == 0 or alpha is None:
      return self.to_rgb[r](self.block[r](h))
    old = upsample_nearest(self.to_rgb[self.resolutions[level - 1]](h), 2)
    return _lerp(old, self.to_rgb[r](self.block[r](h)), alpha)

  def every_level(self, z: jax.Array) -> list:
    """Outputs of every level mid-fade: touches (so `init` creates) every parameter."""
    return [self(z, k, 0.5) for k in range(len(self.resolutions))]


class _DiscriminatorBlock(nn.Module):
  """A grown block (conv3x3 to `features`, conv3x3 to `out_features`, LReLU after each, 2x
  average pool) or, `last`, the 4x4 head (minibatch stddev, conv3x3, dense over the flattened
  4x4 to `out_features`, dense to 1 with gain 1 and no activation)."""
  features: int
  out_features: int
  last: bool
  equalized: bool
  stddev: bool
  group_size: int
  slope: float

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    activate = lambda y: nn.leaky_relu(y, self.slope)
    conv = lambda f, name: EqualizedConv(f, 3, equalized=self.equalized, name=name)
    if not self.last:
      x = activate(conv(self.features, 'conv0')(x))
      return downsample_average(activate(conv(self.out_features, 'conv1')(x)), 2)
    if self.stddev:
      x = minibatch_stddev(x, self.group_size)
    x = activate(conv(self.features, 'conv')(x)).reshape(x.shape[0], -1)
    x = activate(EqualizedDense(self.out_features, equalized=self.equalized, name='dense0')(x))
    return EqualizedDense(1, gain=1.0, equalized=self.equalized, name='dense1')(x)[:, 0]


class Discriminator(nn.Module):
  """images [N, r, r, C] (r = resolutions[level]) -> logits [N] float32.

  from_rgb_r (1x1 conv + LReLU to features[level]), block_r, ..., block_8, block_4 (the head).
  For level k > 0 the new block is faded in: h = lerp(from_rgb_{r/2}(downsample_average(x, 2)),
  block_r(from_rgb_r(x)), alpha), then the lower blocks; alpha = 0 is phase k-1's network on the
  downsampled images; alpha None skips the old path (no fade: the same output as 1).
  """
  resolutions: Sequence[int]
  features: Sequence[int]
  equalized_lr: bool = True
  minibatch_stddev: bool = True
  group_size: int = 4
  leaky_relu_slope: float = 0.2

  def setup(self):
    check_architecture(self.resolutions, self.features)
    f = self.features
    self.block = {r: _DiscriminatorBlock(f[k], f[max(k - 1, 0)], k == 0, self.equalized_lr,
                                         self.minibatch_stddev, self.group_size,
                                         self.leaky_relu_slope)
                  for k, r in enumerate(self.resolutions)}
    self.from_rgb = {r: EqualizedConv(f[k], 1, equalized=self.equalized_lr)
                     for k, r in enumerate(self.resolutions)}

  def _from_rgb(self, images: jax.Array, r: int) -> jax.Array:
    return nn.leaky_relu(self.from_rgb[r](images), self.leaky_relu_slope)

  def __call__(self, images: jax.Array, level: int, alpha) -> jax.Array:
    r = _check_level(self.resolutions, level)
    if images.shape[1:3] != (r, r):
      raise ValueError(f'Discriminator level {level} takes {r}x{r} images; got {images.shape}.')
    images = images.astype(jnp.float32)
    h = self.block[r](self._from_rgb(images, r))
    if level > 0 and alpha is not None:
      old = self._from_rgb(downsample_average(images, 2), self.resolutions[level - 1])
      h = _lerp(old, h, alpha)
    for below in reversed(self.resolutions[:level]):
      h = self.block[below](h)
    return h

  def every_level(self, images: jax.Array) -> list:
    """Logits of every level mid-fade on `images` at the final resolution, average-pooled down to
    each level's: touches (so `init` creates) every parameter."""
    top = self.resolutions[-1]
    return [self(downsample_average(images, top // r), k, 0.5)
            for k, r in enumerate(self.resolutions)]


def init_all(module: Generator | Discriminator, rng: jax.Array, example: jax.Array) -> dict:
  """Variables of every resolution (blocks, to_rgb / from_rgb) in one init, so `apply` then works
  at any level. `example`: z for the Generator, images at the final resolution for the
  Discriminator."""
  return module.init(rng, example, method=module.every_level)
