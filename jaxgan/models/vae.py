"""VAE encoders and decoders (Kingma & Welling 2013, arXiv:1312.6114): MLP and convolutional.

An encoder maps images [N, H, W, C] in [-1, 1] to the mean and log-variance of a diagonal
Gaussian posterior q(z|x); a decoder maps latents [N, D] to per-pixel likelihood parameters
[N, H, W, C * params_per_channel] (1 logit for a Bernoulli, mean and log-scale for a
discretized logistic). `config.model.architecture` picks the pair from ARCHITECTURES.
"""
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jaxgan.models import layers


class MlpEncoder(nn.Module):
  """Flatten -> Dense + ReLU per hidden width -> Dense to (mean, log-variance)."""
  hidden_widths: Sequence[int]
  latent_dim: int

  @nn.compact
  def __call__(self, images: jax.Array):
    h = images.reshape(images.shape[0], -1)
    for width in self.hidden_widths:
      h = nn.relu(nn.Dense(width)(h))
    stats = nn.Dense(2 * self.latent_dim)(h)
    return stats[:, :self.latent_dim], stats[:, self.latent_dim:]


class MlpDecoder(nn.Module):
  """Dense + ReLU per hidden width (reversed) -> Dense to the per-pixel parameters."""
  hidden_widths: Sequence[int]
  output_shape: Sequence[int]  # (H, W, C * params_per_channel)

  @nn.compact
  def __call__(self, z: jax.Array):
    h = z
    for width in reversed(self.hidden_widths):
      h = nn.relu(nn.Dense(width)(h))
    size = self.output_shape[0] * self.output_shape[1] * self.output_shape[2]
    return nn.Dense(size)(h).reshape((z.shape[0], *self.output_shape))


def _downsampled_size(image_size: int, num_strided: int) -> int:
  for _ in range(num_strided):
    image_size = -(-image_size // 2)  # SAME padding with stride 2 rounds up
  return image_size


class ConvEncoder(nn.Module):
  """A stride-2 3x3 conv + ReLU per width, then Dense to (mean, log-variance)."""
  conv_widths: Sequence[int]
  latent_dim: int

  @nn.compact
  def __call__(self, images: jax.Array):
    h = images
    for width in self.conv_widths:
      h = nn.relu(nn.Conv(width, (3, 3), strides=(2, 2), padding='SAME')(h))
    stats = nn.Dense(2 * self.latent_dim)(h.reshape(h.shape[0], -1))
    return stats[:, :self.latent_dim], stats[:, self.latent_dim:]


class ConvDecoder(nn.Module):
  """Dense to a coarse feature map, a stride-2 3x3 ConvTranspose + ReLU per width (reversed),
  cropped to the image size, then a 3x3 conv to the per-pixel parameters."""
  conv_widths: Sequence[int]
  output_shape: Sequence[int]  # (H, W, C * params_per_channel)

  @nn.compact
  def __call__(self, z: jax.Array):
    height, width, channels = self.output_shape
    coarse = _downsampled_size(height, len(self.conv_widths))
    h = nn.Dense(coarse * coarse * self.conv_widths[-1])(z)
    h = nn.relu(h).reshape(z.shape[0], coarse, coarse, self.conv_widths[-1])
    for features in reversed(self.conv_widths):
      h = nn.relu(layers.ConvTranspose(features, (3, 3), strides=(2, 2), padding='SAME')(h))
    h = h[:, :height, :width]
    return nn.Conv(channels, (3, 3), padding='SAME')(h)


class Vae(nn.Module):
  """An encoder/decoder pair; `encode`, `decode` and `__call__` (x -> posterior, z -> params)."""
  encoder: nn.Module
  decoder: nn.Module

  def encode(self, images: jax.Array):
    return self.encoder(images)

  def decode(self, z: jax.Array) -> jax.Array:
    return self.decoder(z)

  def __call__(self, images: jax.Array, z: jax.Array):
    return self.encode(images), self.decode(z)


def make_vae(model_config: ml_collections.ConfigDict, image_shape: Sequence[int],
             params_per_channel: int) -> Vae:
  """The config's architecture for images of `image_shape` (H, W, C)."""
  height, width, channels = image_shape
  output_shape = (height, width, channels * params_per_channel)
  if model_config.architecture == 'mlp':
    return Vae(MlpEncoder(tuple(model_config.hidden_widths), model_config.latent_dim),
               MlpDecoder(tuple(model_config.hidden_widths), output_shape))
  if model_config.architecture == 'conv':
    return Vae(ConvEncoder(tuple(model_config.conv_widths), model_config.latent_dim),
               ConvDecoder(tuple(model_config.conv_widths), output_shape))
  raise ValueError(f'Unknown config.model.architecture {model_config.architecture!r}; '
                   f'choose one of {ARCHITECTURES}.')


ARCHITECTURES = ('mlp', 'conv')


def reparameterize(rng: jax.Array, mean: jax.Array, log_variance: jax.Array) -> jax.Array:
  """z = mean + sigma * eps, eps ~ N(0, I): a sample of q(z|x) differentiable in its parameters."""
  return mean + jnp.exp(0.5 * log_variance) * jax.random.normal(rng, mean.shape, mean.dtype)
