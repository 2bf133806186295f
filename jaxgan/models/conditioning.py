"""How class labels enter G and D (shared by every architecture).

G: with conditional batch norm the label enters through the norms' per-class scale and shift;
otherwise the one-hot label is concatenated to z (Mirza & Osindero 2014, arXiv:1411.1784).
D: `discriminator_head` maps features phi(x) [N, F] to (logits [N], class logits [N, K] or None):
  none        psi(phi(x))
  projection  psi(phi(x)) + <embed(y), phi(x)>        (Miyato & Koyama 2018, arXiv:1802.05637)
  auxiliary   psi(phi(x)) and a K-way classifier head  (Odena et al. 2017, arXiv:1610.09585)
Logits are returned in float32 whatever the compute dtype, so losses reduce in float32.
"""
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan import config_lib
from jaxgan.models import normalization

CONDITIONINGS = ('none', 'projection', 'auxiliary')


def check_conditioning(name: str) -> None:
  if name not in CONDITIONINGS:
    raise config_lib.ConfigError(
        f'Unknown config.model.conditioning {name!r}; choose one of '
        f'{CONDITIONINGS}.')


def generator_input(z: jax.Array, labels: jax.Array | None, num_classes: int,
                    generator_norm: str) -> jax.Array:
  """z, with the one-hot label appended unless conditional batch norm carries the label."""
  if labels is None or generator_norm == 'conditional_batch':
    return z
  return jnp.concatenate([z, jax.nn.one_hot(labels, num_classes, dtype=z.dtype)], axis=-1)


def discriminator_head(features: jax.Array, labels: jax.Array | None, conditioning: str,
                       num_classes: int, dense: Callable[[int], Callable],
                       embed: Callable[[int, int], Callable]):
  """(logits [N], class logits [N, K] or None) from features [N, F].

  `dense(width)` and `embed(num, width)` build the (possibly spectrally normalized) layers, so
  the head is created inside the calling module with its initializers.
  """
  logits = dense(1)(features)[:, 0].astype(jnp.float32)
  if conditioning == 'none':
    return logits, None
  if labels is None:
    raise ValueError(f'conditioning {conditioning!r} needs labels for D.')
  if conditioning == 'projection':
    projection = jnp.sum(embed(num_classes, features.shape[-1])(labels) * features, axis=-1)
    return logits + projection.astype(jnp.float32), None
  return logits, dense(num_classes)(features).astype(jnp.float32)


def head_layers(spectral_norm: bool, train: bool, steps: int, dtype,
                kernel_init=nn.initializers.xavier_uniform()):
  """(dense, embed) builders for `discriminator_head`, spectrally normalized if asked."""
  def dense(width):
    return normalization.spectral(nn.Dense(width, kernel_init=kernel_init, dtype=dtype),
                                  spectral_norm, train, steps)

  def embed(num, width):
    return normalization.spectral(
        nn.Embed(num, width, embedding_init=nn.initializers.xavier_uniform(), dtype=dtype),
        spectral_norm, train, steps)
  return dense, embed


def zoo_head(features: jax.Array, labels: jax.Array | None, options, train: bool):
  """`discriminator_head` with the layers a zoo architecture's NetworkOptions ask for."""
  dense, embed = head_layers(options.spectral_norm, train, options.spectral_norm_steps,
                             options.dtype)
  return discriminator_head(features, labels, options.conditioning, options.num_classes, dense,
                            embed)
