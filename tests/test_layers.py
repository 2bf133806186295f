"""The fast sub-pixel ConvTranspose equals flax's and PyTorch's transposed convolutions."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from jaxgan.models import layers

# (kernel, stride, input size): the DCGAN layers (5/1, 5/2), even kernels, stride > kernel.
SHAPES = [(5, 1, 7), (5, 2, 7), (5, 2, 14), (4, 2, 8), (3, 2, 5), (5, 3, 4), (2, 2, 4), (1, 2, 3)]


def _inputs_and_params(kernel, size, seed=0):
  x = jax.random.normal(jax.random.key(seed), (2, size, size, 3))
  reference = nn.ConvTranspose(5, (kernel, kernel), (1, 1), padding='SAME')
  params = reference.init(jax.random.key(seed + 1), x)
  # A non-zero bias so that it is checked too.
  params = jax.tree.map(lambda p: p + 0.1 * jnp.ones_like(p), params)
  return x, params


@pytest.mark.parametrize('kernel,stride,size', SHAPES)
def test_equals_flax_conv_transpose_values_and_gradients(kernel, stride, size):
  x, params = _inputs_and_params(kernel, size)
  kwargs = dict(features=5, kernel_size=(kernel, kernel), strides=(stride, stride))
  reference = nn.ConvTranspose(padding='SAME', **kwargs)
  fast = layers.ConvTranspose(**kwargs)
  assert jax.tree.map(jnp.shape, fast.init(jax.random.key(1), x)) == jax.tree.map(
      jnp.shape, params)

  expected, actual = reference.apply(params, x), fast.apply(params, x)
  assert actual.shape == (2, size * stride, size * stride, 5)
  np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)

  def objective(module):
    return lambda p, inputs: jnp.sum(jnp.sin(module.apply(p, inputs)))
  expected_grads = jax.grad(objective(reference), argnums=(0, 1))(params, x)
  actual_grads = jax.grad(objective(fast), argnums=(0, 1))(params, x)
  for a, b in zip(jax.tree.leaves(actual_grads), jax.tree.leaves(expected_grads)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('kernel,stride,size', SHAPES)
def test_equals_torch_conv_transpose2d_with_copied_weights(kernel, stride, size):
  """torch computes the true transpose (flipped kernel) with symmetric padding; with the kernel
  flipped back, padding k-1-pad and the output padded or cropped to size*stride it is the same
  function."""
  x, params = _inputs_and_params(kernel, size)
  fast = layers.ConvTranspose(5, (kernel, kernel), (stride, stride))
  actual = np.asarray(fast.apply(params, x))

  pad = layers.same_transpose_padding(kernel, stride)
  natural_size = (size - 1) * stride - 2 * (kernel - 1 - pad) + kernel
  twin = torch.nn.ConvTranspose2d(3, 5, kernel, stride, padding=kernel - 1 - pad,
                                  output_padding=max(size * stride - natural_size, 0))
  kernel_hwio = np.asarray(params['params']['kernel'])
  with torch.no_grad():
    twin.weight.copy_(torch.from_numpy(kernel_hwio[::-1, ::-1].transpose(2, 3, 0, 1).copy()))
    twin.bias.copy_(torch.from_numpy(np.asarray(params['params']['bias'])))
    expected = twin(torch.from_numpy(np.asarray(x).transpose(0, 3, 1, 2))).numpy()
  expected = expected.transpose(0, 2, 3, 1)[:, :size * stride, :size * stride]
  np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)


def test_rejects_padding_other_than_same():
  x = jnp.zeros((1, 4, 4, 2))
  with pytest.raises(ValueError, match="padding='SAME' only"):
    layers.ConvTranspose(3, (3, 3), (2, 2), padding='VALID').init(jax.random.key(0), x)
