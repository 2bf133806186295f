"""Log-likelihoods of image pixels and latents, and the nats -> bits/dim conversion.

Pixels are integers in [0, 255] (or {0, 1} when binarized); every log-probability here is of
those discrete values, so summed over an image it is an exact log-likelihood in nats and
`bits_per_dim` turns it into the number the literature reports.
"""
import math

import jax
import jax.numpy as jnp

from jaxgan.data import images as image_lib

NUM_PIXEL_VALUES = 256
_HALF_BIN = 1.0 / 255.0  # pixel values k map to 2k/255 - 1 in [-1, 1]: bins of width 2/255


def bits_per_dim(nats: jax.Array, num_dims: int) -> jax.Array:
  """Negative log-likelihood in nats per example -> bits per dimension (divide by D ln 2)."""
  return nats / (num_dims * math.log(2.0))


def bernoulli_log_prob(logits: jax.Array, x: jax.Array) -> jax.Array:
  """log p(x) elementwise for x in {0, 1} under Bernoulli(sigmoid(logits)), computed stably."""
  return x * logits - jax.nn.softplus(logits)


def gaussian_log_prob(z: jax.Array, mean: jax.Array, log_variance: jax.Array) -> jax.Array:
  """Log-density of z under N(mean, diag(exp(log_variance))), summed over the last axis."""
  return -0.5 * jnp.sum(math.log(2.0 * math.pi) + log_variance
                        + (z - mean) ** 2 * jnp.exp(-log_variance), axis=-1)


def gaussian_kl_to_standard_normal(mean: jax.Array, log_variance: jax.Array) -> jax.Array:
  """KL(N(mean, diag(exp(log_variance))) || N(0, I)) in closed form, summed over the last axis
  (Kingma & Welling 2013, arXiv:1312.6114, appendix B)."""
  return 0.5 * jnp.sum(jnp.exp(log_variance) + mean ** 2 - 1.0 - log_variance, axis=-1)


def categorical_log_prob(logits: jax.Array, pixels: jax.Array) -> jax.Array:
  """log p(pixel) under a 256-way softmax: logits [..., 256], integer pixels [...]."""
  log_probs = jax.nn.log_softmax(logits, axis=-1)
  return jnp.take_along_axis(log_probs, pixels[..., None].astype(jnp.int32), axis=-1)[..., 0]


def discretized_logistic_log_prob(pixels: jax.Array, mean: jax.Array,
                                  log_scale: jax.Array) -> jax.Array:
  """log P(pixel) elementwise: the mass of a logistic(mean, exp(log_scale)) on [-1, 1] over
  the pixel's bin of width 2/255, the edge bins extended to -inf and +inf so that the 256
  probabilities sum to 1 (Salimans et al. 2017, arXiv:1701.05517, eq. 2).

  `pixels` are integers in [0, 255]; mean and log_scale live in the [-1, 1] pixel range and
  broadcast against them. Tiny bin masses fall back to density x bin width, as in PixelCNN++.
  """
  x = image_lib.normalize_images(pixels)
  inverse_scale = jnp.exp(-log_scale)
  upper = inverse_scale * (x - mean + _HALF_BIN)
  lower = inverse_scale * (x - mean - _HALF_BIN)
  log_cdf_upper = -jax.nn.softplus(-upper)  # log sigmoid(upper), the mass of the bottom bin
  log_survival_lower = -jax.nn.softplus(lower)  # log(1 - sigmoid(lower)), of the top bin
  bin_mass = jax.nn.sigmoid(upper) - jax.nn.sigmoid(lower)
  centre = inverse_scale * (x - mean)
  log_density_times_width = (centre - log_scale - 2.0 * jax.nn.softplus(centre)
                             + math.log(2.0 * _HALF_BIN))
  interior = jnp.where(bin_mass > 1e-5, jnp.log(jnp.maximum(bin_mass, 1e-12)),
                       log_density_times_width)
  return jnp.where(pixels == 0, log_cdf_upper,
                   jnp.where(pixels == NUM_PIXEL_VALUES - 1, log_survival_lower, interior))


def num_mixture_params(channels: int, num_mixtures: int) -> int:
  """Output channels per pixel of a discretized logistic mixture: mixture logits, then per
  component a mean and log-scale per channel and C(C-1)/2 autoregressive channel coefficients."""
  return num_mixtures * (1 + 2 * channels + channels * (channels - 1) // 2)


def _split_mixture_params(params: jax.Array, channels: int, num_mixtures: int):
  """[..., P] -> logits [..., M], means/log_scales [..., C, M], coefficients [..., C(C-1)/2, M]."""
  m = num_mixtures
  num_coefficients = channels * (channels - 1) // 2
  logits = params[..., :m]
  rest = params[..., m:].reshape(params.shape[:-1] + (2 * channels + num_coefficients, m))
  means = rest[..., :channels, :]
  log_scales = jnp.maximum(rest[..., channels:2 * channels, :], -7.0)
  coefficients = jnp.tanh(rest[..., 2 * channels:, :])
  return logits, means, log_scales, coefficients


def _conditional_means(means: jax.Array, coefficients: jax.Array, x: jax.Array) -> jax.Array:
  """Channel c's mean shifted by sum_{c' < c} coefficient * x_{c'} (PixelCNN++'s linear
  dependence of a pixel's later colour channels on its earlier ones). x: [..., C] in [-1, 1]."""
  channels = means.shape[-2]
  shifted = [means[..., 0, :]]
  k = 0
  for c in range(1, channels):
    shift = sum(coefficients[..., k + j, :] * x[..., j, None] for j in range(c))
    shifted.append(means[..., c, :] + shift)
    k += c
  return jnp.stack(jnp.broadcast_arrays(*shifted), axis=-2)


def logistic_mixture_log_prob(pixels: jax.Array, params: jax.Array,
                              num_mixtures: int) -> jax.Array:
  """log P(pixel) of whole pixels [..., C] (integers) under PixelCNN++'s mixture of discretized
  logistics with autoregressive colour channels (Salimans et al. 2017, arXiv:1701.05517, sec. 2.2).

  params: [..., num_mixture_params(C, M)]. Returns [...] (summed over channels).
  """
  channels = pixels.shape[-1]
  logits, means, log_scales, coefficients = _split_mixture_params(params, channels, num_mixtures)
  means = _conditional_means(means, coefficients, image_lib.normalize_images(pixels))
  per_channel = discretized_logistic_log_prob(pixels[..., None], means, log_scales)
  per_component = jnp.sum(per_channel, axis=-2) + jax.nn.log_softmax(logits, axis=-1)
  return jax.nn.logsumexp(per_component, axis=-1)


def sample_logistic_mixture(rng: jax.Array, params: jax.Array, channels: int,
                            num_mixtures: int) -> jax.Array:
  """Integer pixels [..., C] drawn from the mixture: a component, then channels in order, each
  a logistic draw (inverse CDF) around its conditional mean, rounded to the nearest bin."""
  component_key, logistic_key = jax.random.split(rng)
  logits, means, log_scales, coefficients = _split_mixture_params(params, channels, num_mixtures)
  component = jax.random.categorical(component_key, logits)
  one_hot = jax.nn.one_hot(component, num_mixtures)[..., None, :]
  means, log_scales = (jnp.sum(a * one_hot, -1) for a in (means, log_scales))
  coefficients = jnp.sum(coefficients * one_hot, -1)
  u = jax.random.uniform(logistic_key, means.shape, minval=1e-5, maxval=1.0 - 1e-5)
  noise = jnp.exp(log_scales) * (jnp.log(u) - jnp.log1p(-u))
  values, k = [], 0
  for c in range(channels):
    shift = sum(coefficients[..., k + j] * values[j] for j in range(c))
    values.append(jnp.clip(means[..., c] + shift + noise[..., c], -1.0, 1.0))
    k += c
  unit = jnp.stack(values, axis=-1)
  return image_lib.to_uint8(unit).astype(jnp.int32)


def log_mean_exp(log_values: jax.Array, axis: int) -> jax.Array:
  """log(mean(exp(x))) along `axis`, stably: the importance-weighted bound's estimator."""
  return jax.nn.logsumexp(log_values, axis=axis) - math.log(log_values.shape[axis])
