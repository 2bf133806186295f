"""Johnson et al.'s fast-style transformation network against a PyTorch twin of pytorch/examples'
TransformerNet (copied weights, train and eval mode), its size contract and nearest upsampling."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from torch import nn as tnn

from jaxgan.models import style
from torch_twins import copy_conv as _copy
from torch_twins import random_variables as _variables
from torch_twins import tensor as _tensor
from torch_twins import to_numpy as _to_numpy
from torch_twins import to_torch as _to_torch


def _instance_norm(params: dict, channels: int) -> tnn.Module:
  norm = tnn.InstanceNorm2d(channels, affine=True)
  norm.weight.data = _tensor(params['InstanceNorm_0']['scale'])
  norm.bias.data = _tensor(params['InstanceNorm_0']['bias'])
  return norm


def _conv_layer(params, name, in_channels, out_channels, kernel, stride=1):
  """transformer_net.py's ConvLayer: ReflectionPad2d(kernel // 2), then Conv2d."""
  conv = tnn.Conv2d(in_channels, out_channels, kernel, stride)
  return tnn.Sequential(tnn.ReflectionPad2d(kernel // 2), _copy(conv, params[name]))


def _conv_norm_relu(params, name, in_channels, out_channels, kernel, stride=1, upsample=False):
  """ConvLayer (or UpsampleConvLayer: nearest 2x first), instance norm, ReLU."""
  layers = [tnn.Upsample(scale_factor=2, mode='nearest')] if upsample else []
  layers += [_conv_layer(params, name, in_channels, out_channels, kernel, stride),
             _instance_norm(params[f'{name}_norm'], out_channels), tnn.ReLU()]
  return tnn.Sequential(*layers)


class TorchResidualBlock(tnn.Module):
  """transformer_net.py's ResidualBlock: x + in2(conv2(relu(in1(conv1(x)))))."""

  def __init__(self, params, b, channels):
    super().__init__()
    self.body = tnn.Sequential(
        _conv_norm_relu(params, f'block_{b}_conv_0', channels, channels, 3),
        _conv_layer(params, f'block_{b}_conv_1', channels, channels, 3),
        _instance_norm(params[f'block_{b}_conv_1_norm'], channels))

  def forward(self, x):
    return x + self.body(x)


def _torch_transformer_net(params, in_channels, out_channels, features, blocks):
  """TransformerNet layer by layer (before our final tanh), with `params` copied in."""
  f = features
  return tnn.Sequential(
      _conv_norm_relu(params, 'in_conv', in_channels, f, 9),
      _conv_norm_relu(params, 'down_0', f, 2 * f, 3, stride=2),
      _conv_norm_relu(params, 'down_1', 2 * f, 4 * f, 3, stride=2),
      *[TorchResidualBlock(params, b, 4 * f) for b in range(blocks)],
      _conv_norm_relu(params, 'up_1', 4 * f, 2 * f, 3, upsample=True),
      _conv_norm_relu(params, 'up_0', 2 * f, f, 3, upsample=True),
      _conv_layer(params, 'out_conv', f, out_channels, 9))


@pytest.mark.parametrize('train', [False, True])
@pytest.mark.parametrize('side,channels', [(16, 3), (24, 3), (16, 1)])
def test_transform_net_matches_the_reference_twin(train, side, channels):
  x = np.random.default_rng(side + channels).uniform(-1, 1, (2, 16, side, channels))
  x = x.astype(np.float32)
  net = style.TransformNet(out_channels=channels, features=4, num_blocks=2)
  variables = _variables(net, x, train=False)
  out, state = net.apply(variables, x, train=train, capture_intermediates=True)
  assert out.shape == x.shape
  twin = _torch_transformer_net(variables['params'], channels, channels, features=4, blocks=2)
  with torch.no_grad():
    expected = _to_numpy(twin.train(train)(_to_torch(x)))
  raw = state['intermediates']['out_conv']['__call__'][0]  # before the tanh
  assert np.abs(expected).max() > 1  # the tanh is not the identity on these values
  np.testing.assert_allclose(raw, expected, atol=1e-5)
  np.testing.assert_allclose(out, np.tanh(expected), atol=1e-5)


def test_transform_net_widths_and_default_sizes():
  net = style.TransformNet()
  shapes = jax.eval_shape(lambda: net.init(jax.random.key(0), jnp.ones((1, 8, 12, 3)),
                                           train=False))['params']
  kernels = {name: shapes[name]['kernel'].shape for name in
             ('in_conv', 'down_0', 'down_1', 'block_4_conv_1', 'up_1', 'up_0', 'out_conv')}
  assert kernels == {'in_conv': (9, 9, 3, 32), 'down_0': (3, 3, 32, 64),
                     'down_1': (3, 3, 64, 128), 'block_4_conv_1': (3, 3, 128, 128),
                     'up_1': (3, 3, 128, 64), 'up_0': (3, 3, 64, 32), 'out_conv': (9, 9, 32, 3)}
  assert 'block_5_conv_0' not in shapes and all('bias' in shapes[name] for name in kernels)


def test_upsample_nearest_copies_each_pixel_into_a_block():
  x = np.random.default_rng(0).normal(size=(2, 3, 5, 4)).astype(np.float32)
  for factor in (1, 2, 3):
    expected = np.repeat(np.repeat(x, factor, axis=1), factor, axis=2)
    np.testing.assert_array_equal(style.upsample_nearest(jnp.asarray(x), factor), expected)
  torch_up = tnn.Upsample(scale_factor=2, mode='nearest')(_to_torch(x))
  np.testing.assert_array_equal(style.upsample_nearest(jnp.asarray(x)), _to_numpy(torch_up))
  with pytest.raises(ValueError, match='positive integer factor'):
    style.upsample_nearest(jnp.asarray(x), 0)


@pytest.mark.parametrize('shape', [(1, 16, 18, 3), (1, 10, 16, 3), (1, 4, 16, 3),
                                   (1, 16, 4, 3)])
def test_transform_net_rejects_bad_sides(shape):
  net = style.TransformNet(features=2, num_blocks=1)
  with pytest.raises(ValueError, match='multiples of 4 and at least 8'):
    net.init(jax.random.key(0), jnp.ones(shape), train=False)


def test_transform_net_rejects_negative_blocks():
  with pytest.raises(ValueError, match='num_blocks >= 0'):
    style.TransformNet(num_blocks=-1).init(jax.random.key(0), jnp.ones((1, 8, 8, 3)),
                                           train=False)
