"""DCGAN generator and discriminator (Radford et al. 2015, arXiv:1511.06434).

The layer recipe is the TensorFlow DCGAN tutorial's, for any square resolution: widths and
depth come from the config, so the same modules serve 28x28 (MNIST), 32x32 (CIFAR-10) and
64x64 (CelebA). Kernels use Glorot-uniform init and BatchNorm uses Keras' momentum/epsilon,
as in the tutorial. Transposed convolutions are `layers.ConvTranspose`, the exact sub-pixel form
of flax's (same parameters and outputs, faster gradients on CPU). For class-conditional runs
the one-hot label is appended to z and D gets a projection or auxiliary-classifier head
(models/conditioning.py); unconditional, the layers and parameter names are the tutorial's.
"""
import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import conditioning as conditioning_lib
from jaxgan.models import layers

_KERNEL_INIT = nn.initializers.xavier_uniform()


class Generator(nn.Module):
  """z [N, latent] -> images [N, S, S, C] in [-1, 1].

  Dense to (S / 2**(len(widths)-1))^2 x widths[0] -> BN -> LeakyReLU, a stride-1 5x5
  ConvTranspose to widths[1], then stride-2 ConvTransposes through widths[2:] and finally to
  `channels` with tanh. BN + LeakyReLU follow every layer but the last; no biases (BN has them).
  """
  widths: Sequence[int]
  channels: int
  image_size: int
  kernel_size: int = 5
  leaky_relu_slope: float = 0.2
  batch_norm_momentum: float = 0.99
  batch_norm_epsilon: float = 1e-3
  num_classes: int = 0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None, train: bool) -> jax.Array:
    start = self.image_size // 2 ** (len(self.widths) - 1)
    if len(self.widths) < 2 or start * 2 ** (len(self.widths) - 1) != self.image_size:
      raise ValueError(
          f'image_size {self.image_size} must be a multiple of 2**(len(generator_widths)-1) = '
          f'{2 ** (len(self.widths) - 1)} with at least two widths; got widths {self.widths}.')
    norm = functools.partial(nn.BatchNorm, use_running_average=not train,
                             momentum=self.batch_norm_momentum, epsilon=self.batch_norm_epsilon,
                             dtype=self.dtype)
    activate = lambda x: nn.leaky_relu(x, self.leaky_relu_slope)
    conv_transpose = functools.partial(layers.ConvTranspose, kernel_size=(self.kernel_size,) * 2,
                                       padding='SAME', use_bias=False, kernel_init=_KERNEL_INIT,
                                       dtype=self.dtype)
    z = conditioning_lib.generator_input(z, labels, self.num_classes, 'batch')
    x = nn.Dense(start * start * self.widths[0], use_bias=False, kernel_init=_KERNEL_INIT,
                 dtype=self.dtype)(z)
    x = activate(norm()(x)).reshape(-1, start, start, self.widths[0])
    x = activate(norm()(conv_transpose(self.widths[1], strides=(1, 1))(x)))
    for width in self.widths[2:]:
      x = activate(norm()(conv_transpose(width, strides=(2, 2))(x)))
    return jnp.tanh(conv_transpose(self.channels, strides=(2, 2))(x))


class Discriminator(nn.Module):
  """images [N, S, S, C] -> (logits [N], class logits [N, K] or None).

  One stride-2 5x5 conv per width, each followed by LeakyReLU and dropout, then Dense(1).
  """
  widths: Sequence[int]
  kernel_size: int = 5
  leaky_relu_slope: float = 0.2
  dropout_rate: float = 0.3
  conditioning: str = 'none'
  num_classes: int = 0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, images: jax.Array, labels: jax.Array | None, train: bool):
    x = images
    for width in self.widths:
      x = nn.Conv(width, (self.kernel_size,) * 2, strides=(2, 2), padding='SAME',
                  kernel_init=_KERNEL_INIT, dtype=self.dtype)(x)
      x = nn.leaky_relu(x, self.leaky_relu_slope)
      x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    x = x.reshape(x.shape[0], -1)
    dense, embed = conditioning_lib.head_layers(False, train, 0, self.dtype, _KERNEL_INIT)
    return conditioning_lib.discriminator_head(x, labels, self.conditioning,
                                               self.num_classes, dense, embed)


def make_generator(model_config, data_config) -> Generator:
  return Generator(
      widths=tuple(model_config.generator_widths), channels=data_config.channels,
      image_size=data_config.image_size, kernel_size=model_config.kernel_size,
      leaky_relu_slope=model_config.leaky_relu_slope,
      batch_norm_momentum=model_config.batch_norm_momentum,
      batch_norm_epsilon=model_config.batch_norm_epsilon,
      num_classes=model_config.num_classes, dtype=jnp.dtype(model_config.compute_dtype))


def make_discriminator(model_config, data_config) -> Discriminator:
  del data_config  # the convolutions adapt to any image size
  return Discriminator(
      widths=tuple(model_config.discriminator_widths), kernel_size=model_config.kernel_size,
      leaky_relu_slope=model_config.leaky_relu_slope, dropout_rate=model_config.dropout_rate,
      conditioning=model_config.conditioning, num_classes=model_config.num_classes,
      dtype=jnp.dtype(model_config.compute_dtype))
