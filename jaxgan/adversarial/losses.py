"""GAN losses as a registry of (discriminator_loss, generator_loss) pairs on raw logits.

Each function maps D's logits on real and/or generated images to a scalar mean over the batch,
so `config.gan.loss` picks an entry by name and a sweep over losses is a list of overrides.
"""
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from jaxgan import config_lib


class GanLoss(NamedTuple):
  discriminator: Callable[[jax.Array, jax.Array], jax.Array]  # (real_logits, fake_logits)
  generator: Callable[..., jax.Array]  # (fake_logits), or (fake_logits, real_logits) if below
  generator_uses_real: bool = False  # a relativistic G loss also scores real images


def _mean_f32(x: jax.Array) -> jax.Array:
  return jnp.mean(x.astype(jnp.float32))


# -log sigmoid(x) = softplus(-x) and -log(1 - sigmoid(x)) = softplus(x), computed stably.
def _bce_discriminator(real_logits, fake_logits):
  return _mean_f32(jax.nn.softplus(-real_logits)) + _mean_f32(jax.nn.softplus(fake_logits))


# Goodfellow et al. 2014 (arXiv:1406.2661): the original minimax game; G minimizes log(1 - D(G(z))).
MINIMAX = GanLoss(_bce_discriminator, lambda fake: -_mean_f32(jax.nn.softplus(fake)))

# Goodfellow et al. 2014, section 3: G maximizes log D(G(z)) instead (non-saturating).
NON_SATURATING = GanLoss(_bce_discriminator, lambda fake: _mean_f32(jax.nn.softplus(-fake)))

# Arjovsky et al. 2017 (arXiv:1701.07875): the critic estimates the Wasserstein-1 distance.
WASSERSTEIN = GanLoss(lambda real, fake: _mean_f32(fake) - _mean_f32(real),
                      lambda fake: -_mean_f32(fake))

# Mao et al. 2017 (arXiv:1611.04076), with targets a=0 (fake), b=1 (real), c=1 (G's target).
LEAST_SQUARES = GanLoss(
    lambda real, fake: 0.5 * (_mean_f32(jnp.square(real - 1.0)) + _mean_f32(jnp.square(fake))),
    lambda fake: 0.5 * _mean_f32(jnp.square(fake - 1.0)))

# Lim & Ye 2017 (arXiv:1705.02894); Miyato et al. 2018 (arXiv:1802.05957).
HINGE = GanLoss(
    lambda real, fake: _mean_f32(jax.nn.relu(1.0 - real)) + _mean_f32(jax.nn.relu(1.0 + fake)),
    lambda fake: -_mean_f32(fake))



def _relativistic(x: jax.Array, reference: jax.Array) -> jax.Array:
  """C(x) - E[C(reference)]: how much more realistic x looks than the average reference."""
  return x.astype(jnp.float32) - jnp.mean(reference.astype(jnp.float32))


# Jolicoeur-Martineau 2018 (arXiv:1807.00734), relativistic average standard GAN, as ESRGAN uses
# it (Wang et al. 2018, arXiv:1809.00219, eq. 1-2; BasicSR halves each side's two terms). G's
# loss scores real images too (their logits gradient-stopped by the caller).
RELATIVISTIC_AVERAGE = GanLoss(
    lambda real, fake: 0.5 * (_mean_f32(jax.nn.softplus(-_relativistic(real, fake)))
                              + _mean_f32(jax.nn.softplus(_relativistic(fake, real)))),
    lambda fake, real: 0.5 * (_mean_f32(jax.nn.softplus(_relativistic(real, fake)))
                              + _mean_f32(jax.nn.softplus(-_relativistic(fake, real)))),
    generator_uses_real=True)

LOSSES = {
    'minimax': MINIMAX,
    'non_saturating': NON_SATURATING,
    'wasserstein': WASSERSTEIN,
    'least_squares': LEAST_SQUARES,
    'hinge': HINGE,
    'relativistic_average': RELATIVISTIC_AVERAGE,
}


def get(name: str) -> GanLoss:
  """The loss pair `config.gan.loss` names; a ConfigError listing the valid names if none."""
  if name not in LOSSES:
    raise config_lib.ConfigError(
        f'Unknown config.gan.loss {name!r}; choose one of {sorted(LOSSES)}.')
  return LOSSES[name]
