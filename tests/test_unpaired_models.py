"""CycleGAN's and DiscoGAN's networks against PyTorch twins of the reference codes (copied
weights, train and eval mode), output shapes at non-square sizes and argument errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from torch import nn as tnn

from jaxgan.models import unpaired
from torch_twins import copy_conv as _copy
from torch_twins import random_variables as _variables
from torch_twins import tensor as _tensor
from torch_twins import to_numpy as _to_numpy
from torch_twins import to_torch as _to_torch


def _norm_twin(kind: str, channels: int, variables: dict, name: str) -> tnn.Module:
  """PyTorch twin of image_to_image.image_norm(kind, ..., name) with its copied variables."""
  if kind == 'none':
    return tnn.Identity()
  layer_name = {'instance': 'InstanceNorm_0', 'batch': 'BatchNorm_0'}[kind]
  params = variables['params'][name][layer_name]
  norm = (tnn.InstanceNorm2d(channels, affine=True) if kind == 'instance'
          else tnn.BatchNorm2d(channels))
  norm.weight.data, norm.bias.data = _tensor(params['scale']), _tensor(params['bias'])
  if kind == 'batch':
    stats = variables['batch_stats'][name][layer_name]
    norm.running_mean.data, norm.running_var.data = _tensor(stats['mean']), _tensor(stats['var'])
  return norm


def _apply(module, variables, *args, train):
  """Flax output in train mode (batch statistics, running stats updated) or eval mode."""
  if train and 'batch_stats' in variables:
    return module.apply(variables, *args, train=True, mutable=['batch_stats'])[0]
  return module.apply(variables, *args, train=train)


class TorchResnetBlock(tnn.Module):
  """The reference ResnetBlock: x + (pad, conv, norm, ReLU, pad, conv, norm)."""

  def __init__(self, width, kind, variables, b):
    super().__init__()
    params, bias = variables['params'], kind != 'batch'
    self.body = tnn.Sequential(
        tnn.ReflectionPad2d(1),
        _copy(tnn.Conv2d(width, width, 3, bias=bias), params[f'block_{b}_conv_0']),
        _norm_twin(kind, width, variables, f'block_{b}_norm_0'), tnn.ReLU(True),
        tnn.ReflectionPad2d(1),
        _copy(tnn.Conv2d(width, width, 3, bias=bias), params[f'block_{b}_conv_1']),
        _norm_twin(kind, width, variables, f'block_{b}_norm_1'))

  def forward(self, x):
    return x + self.body(x)


def _torch_resnet(variables, kind, in_channels, out_channels, features, blocks, downs):
  """The reference ResnetGenerator, layer by layer, with `variables` copied in."""
  params, bias = variables['params'], kind != 'batch'
  layers = [tnn.ReflectionPad2d(3),
            _copy(tnn.Conv2d(in_channels, features, 7, bias=bias), params['in_conv']),
            _norm_twin(kind, features, variables, 'in_norm'), tnn.ReLU(True)]
  width = features
  for i in range(downs):
    conv = tnn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=bias)
    width *= 2
    layers += [_copy(conv, params[f'down_{i}']),
               _norm_twin(kind, width, variables, f'down_norm_{i}'), tnn.ReLU(True)]
  layers += [TorchResnetBlock(width, kind, variables, b) for b in range(blocks)]
  for i in reversed(range(downs)):
    conv = tnn.ConvTranspose2d(width, width // 2, 3, stride=2, padding=1, output_padding=1,
                               bias=bias)
    width //= 2
    layers += [_copy(conv, params[f'up_{i}']),
               _norm_twin(kind, width, variables, f'up_norm_{i}'), tnn.ReLU(True)]
  layers += [tnn.ReflectionPad2d(3),
             _copy(tnn.Conv2d(width, out_channels, 7), params['out_conv']), tnn.Tanh()]
  return tnn.Sequential(*layers)


@pytest.mark.parametrize('norm,train', [('instance', False), ('instance', True),
                                        ('batch', True), ('batch', False), ('none', False)])
def test_resnet_generator_matches_the_reference_twin(norm, train):
  x = np.random.default_rng(1).uniform(-1, 1, (2, 16, 24, 3)).astype(np.float32)
  net = unpaired.ResnetGenerator(2, features=4, num_blocks=2, norm=norm)
  variables = _variables(net, x, train=False)
  out = _apply(net, variables, x, train=train)
  assert out.shape == (2, 16, 24, 2)
  twin = _torch_resnet(variables, norm, 3, 2, features=4, blocks=2, downs=2).train(train)
  np.testing.assert_allclose(out, _to_numpy(twin(_to_torch(x))), atol=1e-5)


def _torch_encoder(variables, kind, in_channels, widths):
  """DiscoGAN's encoder: conv, [norm], LeakyReLU(0.2) per level."""
  params, layers = variables['params'], []
  for i, width in enumerate(widths):
    conv = tnn.Conv2d(widths[i - 1] if i else in_channels, width, 4, 2, 1,
                      bias=i == 0 or kind != 'batch')
    layers.append(_copy(conv, params[f'down_{i}']))
    if i:
      layers.append(_norm_twin(kind, width, variables, f'down_norm_{i}'))
    layers.append(tnn.LeakyReLU(0.2, True))
  return layers


@pytest.mark.parametrize('norm,train', [('batch', True), ('batch', False), ('none', False),
                                        ('instance', True)])
def test_encoder_decoder_generator_matches_the_reference_twin(norm, train):
  x = np.random.default_rng(2).uniform(-1, 1, (2, 16, 32, 3)).astype(np.float32)
  net = unpaired.EncoderDecoderGenerator(1, features=4, depth=3, norm=norm)
  variables = _variables(net, x, train=False)
  out = _apply(net, variables, x, train=train)
  assert out.shape == (2, 16, 32, 1)
  widths, params = [4, 8, 16], variables['params']
  layers = _torch_encoder(variables, norm, 3, widths)
  for i in (2, 1):
    conv = tnn.ConvTranspose2d(widths[i], widths[i - 1], 4, 2, 1, bias=norm != 'batch')
    layers += [_copy(conv, params[f'up_{i}']),
               _norm_twin(norm, widths[i - 1], variables, f'up_norm_{i}'), tnn.ReLU(True)]
  layers += [_copy(tnn.ConvTranspose2d(4, 1, 4, 2, 1), params['up_0']), tnn.Tanh()]
  twin = tnn.Sequential(*layers).train(train)
  np.testing.assert_allclose(out, _to_numpy(twin(_to_torch(x))), atol=1e-5)


@pytest.mark.parametrize('train', [True, False])
def test_image_discriminator_matches_the_reference_twin(train):
  rng = np.random.default_rng(3)
  images = rng.uniform(-1, 1, (2, 16, 32, 3)).astype(np.float32)
  condition = rng.uniform(-1, 1, (2, 16, 32, 3)).astype(np.float32)
  critic = unpaired.ImageDiscriminator(features=4, depth=3, norm='batch')
  variables = _variables(critic, images, condition, train=False)
  assert variables['params']['conv_3']['kernel'].shape == (2, 4, 16, 1)  # spans the 2x4 map
  logits, aux = _apply(critic, variables, images, condition, train=train)
  assert logits.shape == (2,) and aux is None
  layers = _torch_encoder(variables, 'batch', 6, [4, 8, 16])
  layers.append(_copy(tnn.Conv2d(16, 1, (2, 4)), variables['params']['conv_3']))
  twin = tnn.Sequential(*layers).train(train)
  expected = twin(torch.cat([_to_torch(condition), _to_torch(images)], 1)).detach().numpy()
  np.testing.assert_allclose(logits, expected[:, 0, 0, 0], atol=1e-5)
  swapped = twin(torch.cat([_to_torch(images), _to_torch(condition)], 1)).detach().numpy()
  assert not np.allclose(logits, swapped[:, 0, 0, 0], atol=1e-3)
  alone = unpaired.ImageDiscriminator(features=4, depth=3, norm='none')
  unconditional = _variables(alone, images, None, train=False)
  assert alone.apply(unconditional, images, None, train=False)[0].shape == (2,)


@pytest.mark.parametrize('downsamplings', [0, 1, 3])
def test_resnet_generator_keeps_non_square_sizes(downsamplings):
  """The 3x3 transposed convolutions give exactly twice their input (not 2n - 1 or 2n + 1)."""
  x = jnp.ones((1, 16, 32, 3))
  net = unpaired.ResnetGenerator(3, features=2, num_blocks=1, downsamplings=downsamplings)
  variables = _variables(net, x, train=False)
  out, state = net.apply(variables, x, train=False, capture_intermediates=True)
  assert out.shape == (1, 16, 32, 3) and np.all(np.abs(out) <= 1)
  for i in range(downsamplings):  # up_i gives 1 / 2**i of the sides, features * 2**i channels
    scale = 2 ** i
    assert state['intermediates'][f'up_{i}']['__call__'][0].shape == (
        1, 16 // scale, 32 // scale, 2 * scale)


def test_networks_reject_bad_arguments():
  init = lambda net, shape, *args: net.init(jax.random.key(0), jnp.ones(shape), *args,
                                            train=False)
  with pytest.raises(ValueError, match='divisible by 4 and at least 8'):
    init(unpaired.ResnetGenerator(3, features=2, num_blocks=1), (1, 18, 16, 3))
  with pytest.raises(ValueError, match='at least 8'):
    init(unpaired.ResnetGenerator(3, features=2, num_blocks=1), (1, 4, 8, 3))
  with pytest.raises(ValueError, match='at least 4'):
    init(unpaired.ResnetGenerator(3, features=2, num_blocks=1, downsamplings=0), (1, 3, 8, 3))
  with pytest.raises(ValueError, match='num_blocks >= 0'):
    init(unpaired.ResnetGenerator(3, num_blocks=-1), (1, 8, 8, 3))
  with pytest.raises(ValueError, match='norm'):
    init(unpaired.ResnetGenerator(3, norm='layer'), (1, 8, 8, 3))
  with pytest.raises(ValueError, match='divisible by 8'):
    init(unpaired.EncoderDecoderGenerator(3, features=2, depth=3), (1, 12, 16, 3))
  with pytest.raises(ValueError, match='norm'):
    init(unpaired.EncoderDecoderGenerator(3, norm='spectral'), (1, 16, 16, 3))
  with pytest.raises(ValueError, match='divisible by 16'):
    init(unpaired.ImageDiscriminator(features=2), (1, 16, 24, 3), None)
  with pytest.raises(ValueError, match='depth >= 1'):
    init(unpaired.ImageDiscriminator(features=2, depth=0), (1, 16, 16, 3), None)
