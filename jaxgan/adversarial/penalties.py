"""Discriminator regularizers as a registry: a penalty added to D's loss and/or a constraint.

A `Regularizer` has
  penalty(discriminate, real, fake, rng) -> scalar   (added to D's loss times config.gan.penalty_weight)
  constrain(d_params) -> d_params                    (applied after every D update)
where `discriminate(images) -> logits [N]` is D with its parameters fixed. Gradients with respect
to the images and their norms are taken in float32 whatever the compute dtype. Penalties take
per-example input gradients as grad(sum of logits); that is exact only when D treats examples
independently, so avoid discriminator_norm='batch' with them (as Gulrajani et al. advise).
`orthogonal_regularization` is BigGAN's penalty on G's weights (config.gan.orthogonal_weight).
"""
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from jaxgan import config_lib

Discriminate = Callable[[jax.Array], jax.Array]


class Regularizer(NamedTuple):
  penalty: Callable[[Discriminate, jax.Array, jax.Array, jax.Array], jax.Array]
  constrain: Callable


def input_gradients(discriminate: Discriminate, images: jax.Array) -> jax.Array:
  """d D(x_n) / d x_n for every example, as float32 [N, ...]."""
  images = images.astype(jnp.float32)
  return jax.grad(lambda x: jnp.sum(discriminate(x).astype(jnp.float32)))(images)


def _squared_norms(gradients: jax.Array) -> jax.Array:
  return jnp.sum(jnp.square(gradients.reshape(gradients.shape[0], -1)), axis=-1)


def _unit_gradient_norm_penalty(discriminate, points):
  """mean_n (||grad D(points_n)|| - 1)^2; the sqrt has a tiny floor so its gradient is finite."""
  norms = jnp.sqrt(_squared_norms(input_gradients(discriminate, points)) + 1e-12)
  return jnp.mean(jnp.square(norms - 1.0))


def _per_example_uniform(rng, images):
  return jax.random.uniform(rng, (images.shape[0],) + (1,) * (images.ndim - 1))


def wgan_gp(discriminate, real, fake, rng):
  """Gulrajani et al. 2017 (arXiv:1704.00028): unit gradient norm on random interpolates."""
  alpha = _per_example_uniform(rng, real)
  return _unit_gradient_norm_penalty(discriminate, alpha * real + (1.0 - alpha) * fake)


def dragan(discriminate, real, fake, rng):
  """Kodali et al. 2017 (arXiv:1705.07215): unit gradient norm around the real data.

  The paper perturbs with Gaussian noise; like the authors' code (github.com/kodalinaveen3/DRAGAN)
  the points are real + alpha * delta with delta = 0.5 * std(real) * U[0, 1) per pixel (std over
  the batch) and alpha ~ U[0, 1) per example. (compare_gan instead uses real + std * (U - 0.5).)
  """
  del fake
  alpha_rng, noise_rng = jax.random.split(rng)
  real = real.astype(jnp.float32)
  delta = 0.5 * jnp.std(real) * jax.random.uniform(noise_rng, real.shape)
  return _unit_gradient_norm_penalty(discriminate,
                                     real + _per_example_uniform(alpha_rng, real) * delta)


def r1(discriminate, real, fake, rng):
  """Mescheder et al. 2018 (arXiv:1801.04406): 0.5 * E ||grad D(real)||^2 (gamma = weight)."""
  del fake, rng
  return 0.5 * jnp.mean(_squared_norms(input_gradients(discriminate, real)))


def _no_penalty(discriminate, real, fake, rng):
  del discriminate, real, fake, rng
  return jnp.zeros((), jnp.float32)


def _unconstrained(params):
  return params


def clip_weights(params, clip_value: float):
  """Arjovsky et al. 2017 (arXiv:1701.07875): every D parameter clipped to [-c, c]."""
  return jax.tree.map(lambda p: jnp.clip(p, -clip_value, clip_value), params)


def orthogonal_regularization(params) -> jax.Array:
  """Brock et al. 2019 (arXiv:1809.11096, sec. 3.1): the sum over the network's kernels W (every
  Dense and Conv `kernel`, reshaped to a [fan_in, fan_out] matrix of filter columns) of
  ||W^T W * (1 - I)||_F^2, in float32. It pushes distinct filters towards orthogonality without
  constraining their norms. Embedding tables are left out, as BigGAN leaves out its shared class
  embedding. (The authors' PyTorch code adds half this penalty's gradient.)"""
  total = jnp.zeros((), jnp.float32)
  for path, kernel in jax.tree_util.tree_flatten_with_path(params)[0]:
    if getattr(path[-1], 'key', None) != 'kernel':
      continue
    matrix = kernel.reshape(-1, kernel.shape[-1]).astype(jnp.float32)
    gram = matrix.T @ matrix
    total += jnp.sum(jnp.square(gram * (1.0 - jnp.eye(gram.shape[0], dtype=gram.dtype))))
  return total


PENALTIES = ('none', 'weight_clipping', 'wgan_gp', 'dragan', 'r1')


def get(gan_config) -> Regularizer:
  """The regularizer `config.gan.penalty` names (weight clipping reads config.gan.clip_value)."""
  name = gan_config.penalty
  if name == 'none':
    return Regularizer(_no_penalty, _unconstrained)
  if name == 'weight_clipping':
    if not gan_config.clip_value > 0:
      raise config_lib.ConfigError('config.gan.penalty=weight_clipping needs config.gan.clip_value '
                                   f'> 0 (WGAN used 0.01); got {gan_config.clip_value}.')
    return Regularizer(_no_penalty, lambda p: clip_weights(p, gan_config.clip_value))
  penalties = {'wgan_gp': wgan_gp, 'dragan': dragan, 'r1': r1}
  if name not in penalties:
    raise config_lib.ConfigError(
        f'Unknown config.gan.penalty {name!r}; choose one of {PENALTIES}.')
  return Regularizer(penalties[name], _unconstrained)
