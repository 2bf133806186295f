"""BigGAN-deep G and D (Brock et al. 2019, arXiv:1809.11096, appendix B, the deep 128x128 table).

G takes the class and the latent through hierarchical conditional batch norm: each of its block
norms (batch norm without affine terms) scales by 1 + W_gain c and shifts by W_bias c, linear
projections of c = [E y, z], the shared class embedding E y concatenated with the whole z. That
is BigGAN-deep's skip-z; the original BigGAN instead splits z into one chunk per block. G: a
dense layer from c to (S/2**k)^2 x widths[0], k stages of `blocks_per_stage` bottleneck residual
blocks (the last of each upsamples 2x and changes to the stage's width), then BN -> ReLU -> 3x3
conv -> tanh. A G block: CBN -> ReLU -> 1x1 conv to in/4 channels -> CBN -> ReLU -> (2x nearest
upsampling) -> 3x3 conv -> CBN -> ReLU -> 3x3 conv -> CBN -> ReLU -> 1x1 conv to out channels;
its skip keeps the first `out` channels of the input (channel drop) and upsamples: no
parameters. D: a 3x3 conv to widths[0], one stage per width in widths[1:] (a block that widens
and 2x2-average-pools, then blocks_per_stage - 1 blocks at that width), ReLU, a sum over
positions and the (projection) head of models/conditioning.py. A D block: ReLU -> 1x1 conv to
out/4 -> ReLU -> 3x3 conv -> ReLU -> 3x3 conv -> ReLU -> (pool) -> 1x1 conv to out channels;
its skip (pools and) appends a 1x1 conv of the input for the channels the block adds (channel
concat). Kernels are spectrally normalized where config.model.*_spectral_norm says (the paper:
G and D) and initialized orthogonally (Saxe et al. 2014, arXiv:1312.6120), as the paper's.

A SAGAN self-attention block (models/attention.py) follows the G stage and the first D block
whose output has side `attention_resolution`. BigGAN's own block differs a little: its values
have C/2 channels, keys and values are 2x2 max-pooled, and its convolutions have no bias.
With ch = 128, G widths ch x (16, 16, 8, 4, 2, 1), D widths ch x (1, 2, 4, 8, 16, 16) and
attention at 64 this is BigGAN-deep at 128x128 (configs/biggan.py:128).
"""
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan import config_lib
from jaxgan.models import attention
from jaxgan.models import conditioning
from jaxgan.models import normalization
from jaxgan.models import resnet

BOTTLENECK_RATIO = 4  # a block's 3x3 convs have 1/4 of its (G: input, D: output) channels
ORTHOGONAL = nn.initializers.orthogonal()


def _conv(width: int, kernel: int, opts: normalization.NetworkOptions, train: bool):
  conv = nn.Conv(width, (kernel, kernel), padding='SAME', kernel_init=ORTHOGONAL, dtype=opts.dtype)
  return normalization.spectral(conv, opts.spectral_norm, train, opts.spectral_norm_steps)


def _bottleneck(width: int) -> int:
  return max(width // BOTTLENECK_RATIO, 1)


class HierarchicalBatchNorm(nn.Module):
  """x [N, H, W, C] batch-normalized, then x * (1 + W_gain c) + W_bias c per example, where the
  condition c [N, D] is [shared class embedding, z] (no bias terms in W_gain and W_bias, as in
  the authors' code)."""
  options: normalization.NetworkOptions
  momentum: float = 0.9
  epsilon: float = 1e-5

  @nn.compact
  def __call__(self, x: jax.Array, condition: jax.Array, train: bool) -> jax.Array:
    opts = self.options
    x = nn.BatchNorm(use_running_average=not train, use_scale=False, use_bias=False,
                     momentum=self.momentum, epsilon=self.epsilon, dtype=opts.dtype)(x)

    def project(name):
      dense = nn.Dense(x.shape[-1], use_bias=False, kernel_init=ORTHOGONAL, dtype=opts.dtype,
                       name=name)
      return normalization.spectral(dense, opts.spectral_norm, train,
                                    opts.spectral_norm_steps)(condition)[:, None, None, :]

    return x * (1.0 + project('gain')) + project('bias')


class GeneratorBlock(nn.Module):
  width: int
  upsample: bool
  options: normalization.NetworkOptions

  @nn.compact
  def __call__(self, x: jax.Array, condition: jax.Array, train: bool) -> jax.Array:
    opts = self.options
    hidden = _bottleneck(x.shape[-1])
    norm_relu = lambda y: nn.relu(HierarchicalBatchNorm(opts)(y, condition, train))
    h = _conv(hidden, 1, opts, train)(norm_relu(x))
    h = norm_relu(h)
    skip = x[..., :self.width]
    if self.upsample:
      h, skip = resnet.upsample(h), resnet.upsample(skip)
    h = _conv(hidden, 3, opts, train)(h)
    h = _conv(hidden, 3, opts, train)(norm_relu(h))
    return _conv(self.width, 1, opts, train)(norm_relu(h)) + skip


class DiscriminatorBlock(nn.Module):
  width: int
  downsample: bool
  options: normalization.NetworkOptions

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    opts = self.options
    hidden = _bottleneck(self.width)
    norm_relu = lambda y: nn.relu(normalization.Normalization(opts.norm, dtype=opts.dtype)(
        y, None, train))
    pool = resnet.downsample if self.downsample else (lambda y: y)
    h = _conv(hidden, 1, opts, train)(norm_relu(x))
    h = _conv(hidden, 3, opts, train)(norm_relu(h))
    h = _conv(hidden, 3, opts, train)(norm_relu(h))
    h = _conv(self.width, 1, opts, train)(pool(norm_relu(h)))
    skip = pool(x)
    if self.width > x.shape[-1]:
      skip = jnp.concatenate([skip, _conv(self.width - x.shape[-1], 1, opts, train)(skip)], -1)
    return h + skip


class Generator(nn.Module):
  """z [N, latent], labels [N] or None -> images [N, S, S, C] in [-1, 1]."""
  widths: Sequence[int]
  image_size: int
  channels: int
  options: normalization.NetworkOptions
  attention_resolution: int
  shared_embedding_dim: int
  blocks_per_stage: int

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None, train: bool) -> jax.Array:
    opts = self.options
    condition = z.astype(opts.dtype)
    if labels is not None:
      shared = nn.Embed(opts.num_classes, self.shared_embedding_dim, embedding_init=ORTHOGONAL,
                        dtype=opts.dtype, name='shared_embedding')(labels)
      condition = jnp.concatenate([shared, condition], axis=-1)
    start = self.image_size // 2 ** (len(self.widths) - 1)
    x = normalization.spectral(
        nn.Dense(start * start * self.widths[0], kernel_init=ORTHOGONAL, dtype=opts.dtype),
        opts.spectral_norm, train, opts.spectral_norm_steps)(condition)
    x = x.reshape(-1, start, start, self.widths[0])
    for width in self.widths[1:]:
      for index in range(self.blocks_per_stage):
        last = index == self.blocks_per_stage - 1
        x = GeneratorBlock(width if last else x.shape[-1], last, opts)(x, condition, train)
      if x.shape[1] == self.attention_resolution:
        x = attention.SelfAttention(opts)(x, train)
    x = nn.relu(normalization.Normalization('batch', dtype=opts.dtype)(x, None, train))
    return jnp.tanh(_conv(self.channels, 3, opts, train)(x))


class Discriminator(nn.Module):
  """images [N, S, S, C], labels -> (logits [N], class logits [N, K] or None)."""
  widths: Sequence[int]
  options: normalization.NetworkOptions
  attention_resolution: int
  blocks_per_stage: int

  @nn.compact
  def __call__(self, images: jax.Array, labels: jax.Array | None, train: bool):
    opts = self.options
    x = _conv(self.widths[0], 3, opts, train)(images.astype(opts.dtype))
    attended = False
    for width in self.widths[1:]:
      for index in range(self.blocks_per_stage):
        x = DiscriminatorBlock(width, index == 0, opts)(x, train)
        if x.shape[1] == self.attention_resolution and not attended:
          x, attended = attention.SelfAttention(opts)(x, train), True
    x = jnp.sum(nn.relu(x), axis=(1, 2))
    dense, embed = conditioning.head_layers(opts.spectral_norm, train, opts.spectral_norm_steps,
                                            opts.dtype, kernel_init=ORTHOGONAL)
    return conditioning.discriminator_head(x, labels, opts.conditioning, opts.num_classes, dense,
                                           embed)


def truncated_latents(rng: jax.Array, num: int, latent_dim: int, threshold: float) -> jax.Array:
  """The truncation trick (Brock et al. 2019, sec. 3.1): z ~ N(0, I) with every entry outside
  [-threshold, threshold] redrawn until inside, i.e. a truncated normal. A lower threshold trades
  variety for fidelity; G is trained on untruncated z. Pass them to `family.generate` or
  `jaxgan.load(workdir).generate`."""
  return jax.random.truncated_normal(rng, -threshold, threshold, (num, latent_dim))


def _check(model_config, data_config) -> None:
  """One-line ConfigErrors for a BigGAN model block that cannot build, before any compute."""
  if model_config.generator_norm != 'conditional_batch':
    raise config_lib.ConfigError(
        "BigGAN's G normalizes with hierarchical conditional batch norm only: set "
        f"config.model.generator_norm='conditional_batch', not {model_config.generator_norm!r}.")
  size, g_stages = data_config.image_size, len(model_config.generator_widths) - 1
  d_stages = len(model_config.discriminator_widths) - 1
  if g_stages < 1 or d_stages < 1 or size % 2 ** g_stages or size % 2 ** d_stages:
    raise config_lib.ConfigError(
        f'config.data.image_size={size} must halve once per BigGAN stage: 2**(len(widths) - 1) '
        f'must divide it for config.model.generator_widths ({g_stages} stages) and '
        f'discriminator_widths ({d_stages} stages), each with at least 2 widths.')
  g_widths, d_widths = tuple(model_config.generator_widths), tuple(model_config.discriminator_widths)
  if list(g_widths) != sorted(g_widths, reverse=True) or list(d_widths) != sorted(d_widths):
    raise config_lib.ConfigError(
        'BigGAN widths must not grow along G (its skips drop channels) nor shrink along D (its '
        f'skips append channels); got generator_widths={g_widths}, '
        f'discriminator_widths={d_widths}.')
  if not (isinstance(model_config.blocks_per_stage, int) and model_config.blocks_per_stage >= 1):
    raise config_lib.ConfigError('config.model.blocks_per_stage must be a positive integer, got '
                                 f'{model_config.blocks_per_stage!r}.')
  resolution = model_config.attention_resolution
  g_sides = [size // 2 ** (g_stages - i) for i in range(1, g_stages + 1)]
  d_sides = [size // 2 ** i for i in range(1, d_stages + 1)]
  if resolution and not (resolution in g_sides and resolution in d_sides):
    raise config_lib.ConfigError(
        f'config.model.attention_resolution={resolution} must be a side of both G stages '
        f'{g_sides} and D stages {d_sides} at image_size {size}, or 0 (no attention).')


def make_generator(model_config, data_config) -> Generator:
  _check(model_config, data_config)
  return Generator(tuple(model_config.generator_widths), data_config.image_size,
                   data_config.channels, normalization.network_options(model_config, 'generator'),
                   model_config.attention_resolution, model_config.shared_embedding_dim,
                   model_config.blocks_per_stage)


def make_discriminator(model_config, data_config) -> Discriminator:
  _check(model_config, data_config)
  return Discriminator(tuple(model_config.discriminator_widths),
                       normalization.network_options(model_config, 'discriminator'),
                       model_config.attention_resolution, model_config.blocks_per_stage)
