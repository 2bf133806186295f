"""Pixel and latent distributions against closed forms, scipy, and Monte Carlo."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special
from scipy import stats

from jaxgan.models import distributions

ALL_PIXELS = np.arange(256)


def _reference_bin_masses(mean: float, scale: float) -> np.ndarray:
  """P(pixel k) for a logistic on [-1, 1] binned at 2k/255 - 1 +- 1/255, edges open (scipy)."""
  edges = np.concatenate([[-np.inf], (np.arange(1, 256) * 2 - 1) / 255.0 - 1.0, [np.inf]])
  return np.diff(stats.logistic.cdf(edges, loc=mean, scale=scale))


@pytest.mark.parametrize('mean,log_scale', [(0.0, -3.0), (-0.7, -5.0), (0.9, -1.0),
                                            (-1.2, -4.0), (0.3, 1.0)])
def test_discretized_logistic_matches_scipy_and_sums_to_one(mean, log_scale):
  log_probs = np.asarray(distributions.discretized_logistic_log_prob(
      jnp.asarray(ALL_PIXELS), jnp.float32(mean), jnp.float32(log_scale)), np.float64)
  probs = np.exp(log_probs)
  np.testing.assert_allclose(probs.sum(), 1.0, atol=1e-5)
  reference = _reference_bin_masses(mean, math.exp(log_scale))
  large = reference > 1e-4
  np.testing.assert_allclose(probs[large], reference[large], rtol=2e-3)
  np.testing.assert_allclose(probs, reference, atol=1e-5)


def _mixture_params(rng, channels, num_mixtures):
  return jnp.asarray(rng.normal(size=distributions.num_mixture_params(channels, num_mixtures)),
                     jnp.float32)


def test_logistic_mixture_sums_to_one_over_256_values_grayscale():
  params = _mixture_params(np.random.default_rng(0), 1, 4)
  log_probs = distributions.logistic_mixture_log_prob(jnp.asarray(ALL_PIXELS)[:, None],
                                                      params[None], 4)
  np.testing.assert_allclose(float(jnp.sum(jnp.exp(log_probs))), 1.0, atol=1e-5)


def test_logistic_mixture_colour_matches_an_independent_reference():
  """PixelCNN++'s eq. for C=3, written out with scipy: p = sum_m pi_m prod_c P_c(x_c | x_<c)."""
  rng = np.random.default_rng(1)
  num_mixtures = 3
  params = _mixture_params(rng, 3, num_mixtures)
  pixels = np.array([[0, 128, 255], [17, 200, 3], [255, 255, 0], [90, 91, 92]])
  got = np.asarray(distributions.logistic_mixture_log_prob(
      jnp.asarray(pixels), jnp.broadcast_to(params, (4, params.size)), num_mixtures))
  p = np.asarray(params, np.float64)
  logits, rest = p[:num_mixtures], p[num_mixtures:].reshape(9, num_mixtures)
  means, log_scales, coefficients = rest[:3], np.maximum(rest[3:6], -7.0), np.tanh(rest[6:])
  weights = special.softmax(logits)
  for pixel, log_prob in zip(pixels, got):
    x = pixel / 127.5 - 1.0
    total = 0.0
    for m in range(num_mixtures):
      shifted = [means[0, m], means[1, m] + coefficients[0, m] * x[0],
                 means[2, m] + coefficients[1, m] * x[0] + coefficients[2, m] * x[1]]
      total += weights[m] * np.prod([
          _reference_bin_masses(shifted[c], math.exp(log_scales[c, m]))[pixel[c]]
          for c in range(3)])
    np.testing.assert_allclose(log_prob, math.log(total), rtol=1e-4)


def test_logistic_mixture_colour_channel_conditionals_sum_to_one():
  params = _mixture_params(np.random.default_rng(2), 3, 2)
  for first, second in [(0, 0), (128, 37), (255, 255)]:
    pixels = jnp.stack([jnp.full(256, first), jnp.full(256, second), jnp.arange(256)], -1)
    joint = jnp.exp(distributions.logistic_mixture_log_prob(pixels, params[None], 2))
    # sum over the last channel = p(x1, x2): compare with the mixture over the first two.
    marginal = 0.0
    logits, rest = params[:2], params[2:].reshape(9, 2)
    weights = jax.nn.softmax(logits)
    x1 = first / 127.5 - 1.0
    for m in range(2):
      masses = [np.exp(distributions.discretized_logistic_log_prob(
          jnp.asarray(v), mean, jnp.maximum(rest[3 + c, m], -7.0)))
                for c, (v, mean) in enumerate(
                    [(first, rest[0, m]), (second, rest[1, m] + jnp.tanh(rest[6, m]) * x1)])]
      marginal += weights[m] * masses[0] * masses[1]
    np.testing.assert_allclose(float(jnp.sum(joint)), float(marginal), rtol=1e-4)


def test_mixture_sampler_matches_the_mixture_probabilities():
  params = _mixture_params(np.random.default_rng(3), 1, 3).at[3:6].set(0.3 * jnp.arange(3) - 0.4)
  draws = distributions.sample_logistic_mixture(
      jax.random.key(0), jnp.broadcast_to(params, (200_000, params.size)), 1, 3)[:, 0]
  empirical = np.bincount(np.asarray(draws), minlength=256) / draws.size
  probs = np.exp(distributions.logistic_mixture_log_prob(jnp.asarray(ALL_PIXELS)[:, None],
                                                         params[None], 3))
  assert 0.5 * np.abs(empirical - probs).sum() < 0.02  # total variation, ~0.01 from noise


def test_gaussian_kl_closed_form_matches_monte_carlo():
  rng = np.random.default_rng(4)
  mean, log_variance = rng.normal(size=3), rng.normal(size=3) * 0.5
  closed = float(distributions.gaussian_kl_to_standard_normal(jnp.asarray(mean),
                                                             jnp.asarray(log_variance)))
  z = mean + np.exp(0.5 * log_variance) * rng.normal(size=(400_000, 3))
  log_ratio = (stats.norm.logpdf(z, mean, np.exp(0.5 * log_variance))
               - stats.norm.logpdf(z)).sum(-1)
  standard_error = log_ratio.std() / math.sqrt(len(log_ratio))
  assert abs(log_ratio.mean() - closed) < 4 * standard_error


def test_gaussian_log_prob_and_bernoulli_match_scipy():
  rng = np.random.default_rng(5)
  z, mean, log_variance = rng.normal(size=(3, 4, 6))
  np.testing.assert_allclose(
      distributions.gaussian_log_prob(jnp.asarray(z), jnp.asarray(mean), jnp.asarray(log_variance)),
      stats.norm.logpdf(z, mean, np.exp(0.5 * log_variance)).sum(-1), rtol=1e-5)
  logits, x = rng.normal(size=20) * 5, rng.integers(0, 2, 20)
  np.testing.assert_allclose(distributions.bernoulli_log_prob(jnp.asarray(logits), jnp.asarray(x)),
                             stats.bernoulli.logpmf(x, special.expit(logits)), rtol=1e-5,
                             atol=1e-6)


def test_bits_per_dim_conversion():
  # A uniform distribution over 256 values costs exactly 8 bits per dimension.
  nats = -jnp.sum(distributions.categorical_log_prob(jnp.zeros((28, 28, 256)),
                                                     jnp.arange(784).reshape(28, 28) % 256))
  np.testing.assert_allclose(distributions.bits_per_dim(nats, 784), 8.0, rtol=1e-6)
  np.testing.assert_allclose(distributions.bits_per_dim(jnp.float32(100.0), 784),
                             100.0 / 784 / math.log(2.0), rtol=1e-6)
  np.testing.assert_allclose(distributions.log_mean_exp(jnp.log(jnp.array([1.0, 2.0, 6.0])), 0),
                             math.log(3.0), rtol=1e-6)
