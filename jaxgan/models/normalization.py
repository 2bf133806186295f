"""Normalization layers chosen by name, and spectral normalization of a layer's kernel.

Feature normalizations (`NORMS`): none, batch (Ioffe & Szegedy 2015, arXiv:1502.03167), layer
(Ba et al. 2016, arXiv:1607.06450), conditional batch norm, whose per-class scale and shift
carry the label into G (de Vries et al. 2017, arXiv:1707.00683; Miyato & Koyama 2018,
arXiv:1802.05637), and instance norm (Ulyanov et al. 2016, arXiv:1607.08022), which pix2pix-style
image-to-image networks use.

Spectral normalization (Miyato et al. 2018, arXiv:1802.05957) divides a kernel, reshaped to a
[fan_in, fan_out] matrix, by its largest singular value, estimated by power iteration. It uses
flax's `nn.SpectralNorm`; its vector `u` and estimate `sigma` live in the `spectral` variable
collection, which the GAN family keeps in its train state and updates only in training steps. The
estimate depends on the kernel alone (not on the batch), so replicated state stays identical on
every device.
"""
import dataclasses
import functools
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

NORMS = ('none', 'batch', 'layer', 'conditional_batch', 'instance')
SPECTRAL = 'spectral'  # variable collection of the power-iteration vectors


def spectral(layer: nn.Module, enabled: bool, train: bool, steps: int) -> Callable:
  """`layer`, or `layer` with a spectrally normalized kernel if `enabled`.

  The power-iteration vector advances by `steps` iterations per call and is written back only
  when `train` (evaluation uses the stored vector without changing it).
  """
  if not enabled:
    return layer
  return functools.partial(nn.SpectralNorm(layer, n_steps=steps, collection_name=SPECTRAL),
                           update_stats=train)


class ConditionalBatchNorm(nn.Module):
  """Batch norm without affine terms, then a per-class scale (init 1) and shift (init 0)."""
  num_classes: int
  momentum: float
  epsilon: float
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array, train: bool) -> jax.Array:
    x = nn.BatchNorm(use_running_average=not train, use_scale=False, use_bias=False,
                     momentum=self.momentum, epsilon=self.epsilon, dtype=self.dtype)(x)
    channels = x.shape[-1]
    scale = nn.Embed(self.num_classes, channels, embedding_init=nn.initializers.ones,
                     name='scale')(labels)
    shift = nn.Embed(self.num_classes, channels, embedding_init=nn.initializers.zeros,
                     name='shift')(labels)
    broadcast = (slice(None),) + (None,) * (x.ndim - 2)
    return (x * scale[broadcast] + shift[broadcast]).astype(self.dtype)


class InstanceNorm(nn.Module):
  """Ulyanov et al. 2016 (arXiv:1607.08022): each example's channels normalized by their own mean
  and (biased) variance over the spatial axes, then a learned per-channel scale (init 1) and bias
  (init 0): PyTorch's InstanceNorm2d(affine=True). Statistics are the same in training and
  evaluation, so there is no state."""
  epsilon: float = 1e-5
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    if x.ndim < 3:
      raise ValueError(f'Instance norm needs spatial axes [N, ..., C]; got shape {x.shape}.')
    channels = x.shape[-1]
    scale = self.param('scale', nn.initializers.ones, (channels,), jnp.float32)
    bias = self.param('bias', nn.initializers.zeros, (channels,), jnp.float32)
    y = x.astype(jnp.float32)
    spatial = tuple(range(1, x.ndim - 1))
    mean = y.mean(spatial, keepdims=True)
    var = jnp.square(y - mean).mean(spatial, keepdims=True)
    return ((y - mean) * jax.lax.rsqrt(var + self.epsilon) * scale + bias).astype(self.dtype)


class Normalization(nn.Module):
  """One of NORMS over the last axis; `labels` are used only by conditional batch norm."""
  kind: str
  num_classes: int = 0
  momentum: float = 0.9
  epsilon: float = 1e-5
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None, train: bool) -> jax.Array:
    if self.kind == 'none':
      return x
    if self.kind == 'batch':
      return nn.BatchNorm(use_running_average=not train, momentum=self.momentum,
                          epsilon=self.epsilon, dtype=self.dtype)(x)
    if self.kind == 'layer':
      return nn.LayerNorm(epsilon=self.epsilon, dtype=self.dtype)(x)
    if self.kind == 'conditional_batch':
      if labels is None:
        raise ValueError("Norm 'conditional_batch' needs labels: set config.model.conditioning "
                         "to 'projection' or 'auxiliary', or pick another generator_norm.")
      return ConditionalBatchNorm(self.num_classes, self.momentum, self.epsilon, self.dtype)(
          x, labels, train)
    if self.kind == 'instance':
      return InstanceNorm(self.epsilon, self.dtype)(x)
    raise ValueError(f'Unknown norm {self.kind!r}; choose one of {NORMS}.')


def check_norm(name: str, field: str, allowed=NORMS) -> None:
  """Raises a ValueError naming `field` if `name` is not one of `allowed`."""
  if name not in allowed:
    raise ValueError(f'Unknown config.model.{field} {name!r}; choose one of {allowed}.')


@dataclasses.dataclass(frozen=True)
class NetworkOptions:
  """The ablation axes one network (G or D) of the zoo architectures reads."""
  norm: str  # one of NORMS (conditional_batch only in G)
  spectral_norm: bool
  spectral_norm_steps: int
  num_classes: int
  conditioning: str  # 'none' | 'projection' | 'auxiliary'
  dtype: Any


def network_options(model_config, network: str) -> NetworkOptions:
  """Options of `network` ('generator' or 'discriminator') from config.model."""
  norm = model_config[f'{network}_norm']
  check_norm(norm, f'{network}_norm',
             NORMS if network == 'generator' else ('none', 'batch', 'layer'))
  return NetworkOptions(
      norm=norm, spectral_norm=model_config[f'{network}_spectral_norm'],
      spectral_norm_steps=model_config.spectral_norm_steps,
      num_classes=model_config.num_classes, conditioning=model_config.conditioning,
      dtype=jnp.dtype(model_config.compute_dtype))
