"""Penalties and the weight constraint against finite differences at independently rebuilt
points (interpolates, perturbed real images) and in closed form."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jaxgan.adversarial import penalties

RNG = np.random.default_rng(0)
WEIGHTS = RNG.normal(size=(3, 4, 4, 2)).astype(np.float64) * 0.3
REAL = RNG.uniform(-1, 1, (5, 4, 4, 2))
FAKE = RNG.uniform(-1, 1, (5, 4, 4, 2))


def nonlinear_d(images):
  """A smooth per-example D: sum_k tanh(<w_k, x>)^2 + sum sin(x)."""
  x = images.reshape(images.shape[0], -1)
  hidden = jnp.tanh(x @ jnp.asarray(WEIGHTS.reshape(3, -1).T, x.dtype))
  return jnp.sum(hidden ** 2, axis=-1) + jnp.sum(jnp.sin(x), axis=-1)


def numpy_d(x):
  """nonlinear_d in float64 numpy, for finite differences."""
  flat = x.reshape(x.shape[0], -1)
  return np.sum(np.tanh(flat @ WEIGHTS.reshape(3, -1).T) ** 2, -1) + np.sum(np.sin(flat), -1)


def finite_difference_gradients(points, step=1e-5):
  grads = np.zeros_like(points)
  flat, out = points.reshape(len(points), -1), grads.reshape(len(points), -1)
  for k in range(flat.shape[1]):
    up, down = flat.copy(), flat.copy()
    up[:, k] += step
    down[:, k] -= step
    out[:, k] = (numpy_d(up.reshape(points.shape)) - numpy_d(down.reshape(points.shape))) / (
        2 * step)
  return grads


def fd_norms(points):
  return np.sqrt(np.sum(finite_difference_gradients(points).reshape(len(points), -1) ** 2, -1))


def _penalty_at(points):
  """mean_n (||grad D(points_n)|| - 1)^2 by float64 finite differences."""
  return np.mean((fd_norms(points) - 1) ** 2)


def _per_example_alpha(key):
  """The alpha ~ U[0, 1) per example that penalties.py draws from `key`."""
  return np.asarray(jax.random.uniform(key, (len(REAL), 1, 1, 1)), np.float64)


@pytest.mark.parametrize('seed', [0, 1])
def test_wgan_gp_matches_finite_differences_at_the_interpolates(seed):
  # Gulrajani et al. 2017, Algorithm 1: x_hat = eps * x_real + (1 - eps) * x_fake, eps per example.
  key = jax.random.key(seed)
  alpha = _per_example_alpha(key)
  expected = _penalty_at(alpha * REAL + (1 - alpha) * FAKE)
  got = penalties.wgan_gp(nonlinear_d, jnp.float32(REAL), jnp.float32(FAKE), key)
  np.testing.assert_allclose(got, expected, rtol=1e-4)
  # The critic is nonlinear enough that the interpolation matters: neither end point passes.
  for end in (REAL, FAKE, 0.5 * (REAL + FAKE)):
    assert abs(_penalty_at(end) - expected) > 1e-3 * expected  # 10x the tolerance


def test_dragan_matches_finite_differences_around_the_real_images():
  # The authors' code (github.com/kodalinaveen3/DRAGAN): x_p = x + 0.5 * std(x) * U[0, 1) per
  # pixel, std over the whole batch; the penalty is at x + alpha * (x_p - x), alpha per example.
  key = jax.random.key(3)
  alpha_key, noise_key = jax.random.split(key)
  noise = np.asarray(jax.random.uniform(noise_key, REAL.shape), np.float64)
  perturbed = REAL + 0.5 * np.std(REAL) * noise
  alpha = _per_example_alpha(alpha_key)
  points = REAL + alpha * (perturbed - REAL)
  expected = _penalty_at(points)
  got = penalties.dragan(nonlinear_d, jnp.float32(REAL), None, key)
  np.testing.assert_allclose(got, expected, rtol=1e-4)
  # The perturbation is large enough to matter: the penalty at the real images differs.
  assert np.max(np.abs(points - REAL)) > 0.1
  assert abs(_penalty_at(REAL) - expected) > 1e-3 * expected  # 10x the tolerance


def test_r1_matches_finite_differences():
  expected = 0.5 * np.mean(fd_norms(REAL) ** 2)
  got = penalties.r1(nonlinear_d, jnp.float32(REAL), jnp.float32(FAKE), jax.random.key(0))
  np.testing.assert_allclose(got, expected, rtol=1e-4)


def test_gradient_penalty_is_differentiable_at_a_zero_gradient():
  grads = jax.grad(lambda scale: penalties.wgan_gp(
      lambda x: scale * jnp.sum(x * 0.0, axis=(1, 2, 3)), jnp.float32(REAL), jnp.float32(FAKE),
      jax.random.key(0)))(1.0)
  assert np.isfinite(grads)


def _gan_config(penalty, clip_value=0.0):
  return ml_collections.ConfigDict({'penalty': penalty, 'clip_value': clip_value})


def test_weight_clipping_bounds_every_parameter_and_keeps_small_ones():
  params = {'conv': {'kernel': jnp.asarray(RNG.normal(size=(3, 3, 2, 4)) * 0.02)},
            'dense': {'bias': jnp.asarray([0.5, -0.004, -0.3])}}
  clipped = penalties.get(_gan_config('weight_clipping', 0.01)).constrain(params)
  for before, after in zip(jax.tree.leaves(params), jax.tree.leaves(clipped)):
    assert np.all(np.abs(after) <= 0.01)
    small = np.abs(before) <= 0.01
    np.testing.assert_array_equal(np.asarray(after)[small], np.asarray(before)[small])
  np.testing.assert_array_equal(clipped['dense']['bias'], np.float32([0.01, -0.004, -0.01]))


@pytest.mark.parametrize('name', penalties.PENALTIES)
def test_every_registry_entry_builds_and_gives_a_finite_scalar(name):
  regularizer = penalties.get(_gan_config(name, 0.01))
  value = regularizer.penalty(nonlinear_d, jnp.float32(REAL), jnp.float32(FAKE),
                              jax.random.key(0))
  assert value.shape == () and np.isfinite(value)
  assert (value == 0) == (name in ('none', 'weight_clipping'))


def test_bad_names_and_missing_clip_value_are_explained():
  with pytest.raises(ValueError, match='wgan_gp'):
    penalties.get(_gan_config('gp'))
  with pytest.raises(ValueError, match='clip_value'):
    penalties.get(_gan_config('weight_clipping', 0.0))
