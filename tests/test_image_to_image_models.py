"""Image-to-image networks against PyTorch twins of the reference pix2pix code (copied weights),
hand computations (instance norm, partial convolution, channel-wise FC) and receptive fields."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from torch import nn as tnn

from jaxgan.models import image_to_image as i2i
from jaxgan.models import normalization
from torch_twins import copy_conv as _copy
from torch_twins import random_variables
from torch_twins import to_numpy as _to_numpy
from torch_twins import to_torch as _to_torch


def _copy_norm(norm: tnn.InstanceNorm2d, params: dict) -> None:
  norm.weight.data = torch.from_numpy(np.array(params['InstanceNorm_0']['scale']))
  norm.bias.data = torch.from_numpy(np.array(params['InstanceNorm_0']['bias']))


def _variables(module, *args, seed=0, **kwargs):
  """Random variables with batch-norm running statistics 0 and 1 (the twins keep PyTorch's)."""
  return random_variables(module, *args, seed=seed, random_statistics=False, **kwargs)


def test_instance_norm_matches_hand_computation_and_torch():
  x = np.random.default_rng(0).normal(2.0, 3.0, (2, 5, 6, 3)).astype(np.float32)
  layer = normalization.Normalization('instance')
  variables = layer.init(jax.random.key(0), x, None, train=True)
  init = variables['params']['InstanceNorm_0']
  assert list(variables) == ['params'] and sorted(init) == ['bias', 'scale']
  assert np.array_equal(init['scale'], np.ones(3)) and np.array_equal(init['bias'], np.zeros(3))
  params = _variables(layer, x, None, train=True)['params']
  out = np.asarray(layer.apply({'params': params}, x, None, train=True))
  scale, bias = (np.asarray(params['InstanceNorm_0'][k]) for k in ('scale', 'bias'))
  mean, var = x.mean((1, 2), keepdims=True), x.var((1, 2), keepdims=True)
  np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-5) * scale + bias, atol=1e-5)
  twin = tnn.InstanceNorm2d(3, affine=True)
  _copy_norm(twin, params)
  np.testing.assert_allclose(out, _to_numpy(twin(_to_torch(x))), atol=1e-5)
  assert np.array_equal(out, layer.apply({'params': params}, x, None, train=False))
  with pytest.raises(ValueError, match='spatial'):
    layer.init(jax.random.key(0), x[:, 0, 0], None, train=True)


class TorchUNetBlock(tnn.Module):
  """One level of the reference UnetSkipConnectionBlock with InstanceNorm2d(affine=True),
  in-place activations included (the in-place LeakyReLU also changes the skip)."""

  def __init__(self, outer, inner, in_channels=None, sub=None, outermost=False, innermost=False):
    super().__init__()
    self.outermost = outermost
    self.down = tnn.Conv2d(in_channels or outer, inner, 4, 2, 1)
    self.down_norm = tnn.InstanceNorm2d(inner, affine=True)
    self.up = tnn.ConvTranspose2d(inner if innermost else 2 * inner, outer, 4, 2, 1)
    self.up_norm = tnn.InstanceNorm2d(outer, affine=True)
    if outermost:
      layers = [self.down, sub, tnn.ReLU(True), self.up, tnn.Tanh()]
    elif innermost:
      layers = [tnn.LeakyReLU(0.2, True), self.down, tnn.ReLU(True), self.up, self.up_norm]
    else:
      layers = [tnn.LeakyReLU(0.2, True), self.down, self.down_norm, sub, tnn.ReLU(True),
                self.up, self.up_norm]
    self.model = tnn.Sequential(*layers)

  def forward(self, x):
    return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


def _torch_unet(params, in_channels, out_channels, widths):
  depth = len(widths)
  block = None
  for i in reversed(range(depth)):
    block = TorchUNetBlock(widths[i - 1] if i else out_channels, widths[i],
                           in_channels if i == 0 else None, block, i == 0, i == depth - 1)
    _copy(block.down, params[f'down_{i}'])
    _copy(block.up, params[f'up_{i}'])
    if 0 < i < depth - 1:
      _copy_norm(block.down_norm, params[f'down_norm_{i}'])
    if i:
      _copy_norm(block.up_norm, params[f'up_norm_{i}'])
  return block


def test_unet_matches_the_reference_twin():
  x = np.random.default_rng(1).uniform(-1, 1, (2, 16, 16, 2)).astype(np.float32)
  net = i2i.UNetGenerator(3, features=4, depth=3, norm='instance')
  params = _variables(net, x, train=False)['params']
  out = net.apply({'params': params}, x, train=False)
  assert out.shape == (2, 16, 16, 3)
  twin = _torch_unet(params, 2, 3, [4, 8, 16])
  np.testing.assert_allclose(out, _to_numpy(twin(_to_torch(x))), atol=1e-5)


def test_unet_dropout_is_train_only_and_spares_the_outermost_layer():
  x = np.random.default_rng(1).uniform(-1, 1, (2, 16, 16, 2)).astype(np.float32)
  net = i2i.UNetGenerator(3, features=4, depth=3, norm='instance')
  params = {'params': _variables(net, x, train=False)['params']}
  apply = lambda key: net.apply(params, x, train=True, rngs={'dropout': key},
                                capture_intermediates=True)
  (noisy, state), (other, _) = apply(jax.random.key(0)), apply(jax.random.key(1))
  assert sorted(k for k in state['intermediates'] if 'Dropout' in k) == ['Dropout_0', 'Dropout_1']
  assert not np.allclose(noisy, other)
  plain = net.apply(params, x, train=False)
  no_dropout = i2i.UNetGenerator(3, features=4, depth=3, norm='instance', dropout_layers=0)
  np.testing.assert_allclose(no_dropout.apply(params, x, train=True), plain, atol=1e-6)


def _gradient_support(fn, x):
  """|d fn(x) / dx| summed over batch and channels: [H, W]."""
  return np.abs(np.asarray(jax.jit(jax.grad(fn))(x))).sum((0, 3))


def test_unet_skips_carry_local_detail_and_the_bottleneck_sees_everything():
  x = jnp.asarray(np.random.default_rng(2).uniform(-1, 1, (1, 8, 8, 1)), jnp.float32)
  net = i2i.UNetGenerator(1, features=4, depth=3, norm='none')
  params = _variables(net, x, train=False)['params']
  pixel = lambda p: lambda v: net.apply({'params': p}, v, train=False)[0, 3, 4, 0]
  assert np.all(_gradient_support(pixel(params), x) > 0)  # 1x1 bottleneck: the whole image
  # The outermost transposed conv sees [skip, decoded]; without the decoded half the output
  # still follows the input, through the full-resolution skip only: rows/cols 1..6 around 3, 4.
  kernel = params['up_0']['kernel'].copy()
  kernel[..., 4:] = 0
  skip_only = dict(params, up_0=dict(params['up_0'], kernel=kernel))
  support = _gradient_support(pixel(skip_only), x) > 0
  rows, cols = np.nonzero(support)
  assert support[3, 4] and rows.min() >= 1 and rows.max() <= 6
  assert cols.min() >= 1 and cols.max() <= 6


def test_unet_and_patchgan_reject_bad_arguments():
  net = i2i.UNetGenerator(3, features=4, depth=3)
  with pytest.raises(ValueError, match='divisible by 8'):
    net.init(jax.random.key(0), jnp.ones((1, 12, 16, 3)), train=False)
  with pytest.raises(ValueError, match='norm'):
    i2i.PatchDiscriminator(4, norm='layer').init(
        jax.random.key(0), jnp.ones((1, 16, 16, 3)), None, train=False)


def _patch_logit_side(side, num_layers):
  """Output side of the reference NLayerDiscriminator: floor((s + 2p - k) / stride) + 1."""
  for stride in [2] * num_layers + [1, 1]:
    side = (side + 2 - 4) // stride + 1
  return side


@pytest.mark.parametrize('side', [70, 128, 256])
def test_patchgan_output_shape(side):
  critic = i2i.PatchDiscriminator(features=2, num_layers=3, norm='batch')
  images, condition = jnp.ones((2, side, side, 3)), jnp.ones((2, side, side, 1))
  variables = _variables(critic, images, condition, train=False)
  logits, aux = critic.apply(variables, images, condition, train=False)
  expected = _patch_logit_side(side, 3)
  assert logits.shape == (2, expected, expected) and aux is None


@pytest.mark.parametrize('num_layers', [1, 2, 3])
def test_patchgan_receptive_field_is_measured(num_layers):
  images = jnp.asarray(np.random.default_rng(3).normal(size=(1, 96, 96, 2)), jnp.float32)
  critic = i2i.PatchDiscriminator(features=2, num_layers=num_layers, norm='none')
  variables = _variables(critic, images, None, train=False)
  centre = _patch_logit_side(96, num_layers) // 2
  logit = lambda v: critic.apply(variables, v, None, train=False)[0][0, centre, centre]
  rows, cols = np.nonzero(_gradient_support(logit, images))
  field = i2i.patch_receptive_field(num_layers)
  assert rows.max() - rows.min() + 1 == field and cols.max() - cols.min() + 1 == field
  assert len(rows) == field * field
  assert [i2i.patch_receptive_field(n) for n in (1, 2, 3)] == [16, 34, 70]


def test_patchgan_matches_the_reference_twin():
  rng = np.random.default_rng(4)
  images = rng.uniform(-1, 1, (2, 70, 70, 3)).astype(np.float32)
  condition = rng.uniform(-1, 1, (2, 70, 70, 1)).astype(np.float32)
  critic = i2i.PatchDiscriminator(features=4, num_layers=3, norm='instance')
  params = _variables(critic, images, condition, train=False)['params']
  logits, _ = critic.apply({'params': params}, images, condition, train=False)
  layers = [tnn.Conv2d(4, 4, 4, 2, 1), tnn.LeakyReLU(0.2, True)]
  for i, (before, after) in enumerate([(4, 8), (8, 16), (16, 32)], start=1):
    conv, norm = tnn.Conv2d(before, after, 4, 2 if i < 3 else 1, 1), tnn.InstanceNorm2d(
        after, affine=True)
    _copy(conv, params[f'conv_{i}'])
    _copy_norm(norm, params[f'norm_{i}'])
    layers += [conv, norm, tnn.LeakyReLU(0.2, True)]
  layers.append(tnn.Conv2d(32, 1, 4, 1, 1))
  _copy(layers[0], params['conv_0'])
  _copy(layers[-1], params['conv_4'])
  twin = tnn.Sequential(*layers)
  expected = twin(torch.cat([_to_torch(condition), _to_torch(images)], 1))[:, 0]
  assert logits.shape == (2, 6, 6)
  np.testing.assert_allclose(logits, expected.detach().numpy(), atol=1e-5)


def _partial_conv_by_hand(x, mask, kernel, bias, stride):
  """Liu et al.'s eq. 1-2 on one channel, window by window, zero padding (k - 1) // 2."""
  k = kernel.shape[0]
  pad = (k - 1) // 2
  xp, mp = np.pad(x * mask, pad), np.pad(mask, pad)
  side = (x.shape[0] + 2 * pad - k) // stride + 1
  out, new_mask = np.zeros((side, side)), np.zeros((side, side))
  for i in range(side):
    for j in range(side):
      window = np.s_[i * stride:i * stride + k, j * stride:j * stride + k]
      valid = mp[window].sum()
      if valid > 0:
        out[i, j] = (kernel * xp[window]).sum() * (k * k) / valid + bias
        new_mask[i, j] = 1
  return out, new_mask


@pytest.mark.parametrize('stride', [1, 2])
def test_partial_conv_matches_hand_computation(stride):
  x = np.arange(16, dtype=np.float32).reshape(4, 4) - 5
  mask = np.array([[0, 0, 1, 1], [0, 0, 0, 1], [1, 0, 1, 1], [1, 1, 1, 1]], np.float32)
  layer = i2i.PartialConv(1, 3, stride=stride)
  params = {'conv': {'kernel': jnp.ones((3, 3, 1, 1))}, 'bias': jnp.array([0.5])}
  y, new_mask = layer.apply({'params': params}, x[None, :, :, None], mask[None, :, :, None])
  expected, expected_mask = _partial_conv_by_hand(x, mask, np.ones((3, 3)), 0.5, stride)
  np.testing.assert_allclose(y[0, :, :, 0], expected, rtol=1e-6)
  np.testing.assert_array_equal(new_mask[0, :, :, 0], expected_mask)
  if stride == 1:  # top-left window is all hole: output 0, still a hole; its neighbour is 9/1
    assert expected_mask[0, 0] == 0 and y[0, 0, 0, 0] == 0
    assert expected[0, 1] == pytest.approx(9 * x[0, 2] + 0.5)


def test_partial_conv_masks_per_channel_and_ignores_hole_content():
  rng = np.random.default_rng(5)
  x = jnp.asarray(rng.normal(size=(2, 8, 8, 3)), jnp.float32)
  mask = jnp.asarray(rng.uniform(size=(2, 8, 8, 1)) > 0.6, jnp.float32)
  layer = i2i.PartialConv(4, 5)
  params = _variables(layer, x, mask)['params']
  y, new_mask = layer.apply({'params': params}, x, mask)
  y_wide, mask_wide = layer.apply({'params': params}, x, jnp.broadcast_to(mask, x.shape))
  np.testing.assert_allclose(y, y_wide, rtol=1e-5, atol=1e-6)
  assert np.array_equal(new_mask, mask_wide) and new_mask.shape == (2, 8, 8, 1)
  noisy = x + 100 * (1 - mask) * rng.normal(size=x.shape)
  np.testing.assert_allclose(layer.apply({'params': params}, noisy, mask)[0], y, atol=1e-5)
  full, _ = layer.apply({'params': params}, x, jnp.ones_like(mask))  # interior: a plain conv
  plain = jax.lax.conv_general_dilated(x, params['conv']['kernel'], (1, 1), 'VALID',
                                       dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  np.testing.assert_allclose(full[:, 2:-2, 2:-2], plain + params['bias'], rtol=1e-5, atol=1e-5)
  with pytest.raises(ValueError, match='mask'):
    layer.apply({'params': params}, x, mask[:, :4])


def _valid_after(mask, kernel):
  """A window of the stride-2 partial conv is valid where any pixel under it is valid."""
  pad = (kernel - 1) // 2
  padded = np.pad(mask, pad)
  side = (mask.shape[0] + 2 * pad - kernel) // 2 + 1
  return np.array([[padded[2 * i:2 * i + kernel, 2 * j:2 * j + kernel].max()
                    for j in range(side)] for i in range(side)])


def test_partial_conv_unet_holes_shrink_through_the_encoder():
  mask = np.ones((32, 32), np.float32)
  mask[6:26, 6:26] = 0
  x = jnp.asarray(np.random.default_rng(6).uniform(-1, 1, (1, 32, 32, 3)), jnp.float32)
  net = i2i.PartialConvUNet(3, features=4, depth=4)
  variables = _variables(net, x, mask[None, :, :, None], train=False)
  out, state = net.apply(variables, x, mask[None, :, :, None], train=False,
                         capture_intermediates=True)
  assert out.shape == (1, 32, 32, 3) and np.all(np.isfinite(out))
  layers = state['intermediates']
  expected, holes = mask, []
  for i, kernel in enumerate([7, 5, 5, 3]):
    y, new_mask = layers[f'down_{i}']['__call__'][0]
    expected = _valid_after(expected, kernel)
    np.testing.assert_array_equal(new_mask[0, :, :, 0], expected)
    assert np.all(y[0][expected == 0] == 0)
    holes.append(int((expected == 0).sum()))
  assert holes == [49, 1, 0, 0]
  assert np.all(layers['up_0']['__call__'][0][1] == 1)


def test_context_encoder_shapes_and_channelwise_layer():
  x = jnp.asarray(np.random.default_rng(7).uniform(-1, 1, (2, 32, 32, 4)), jnp.float32)
  net = i2i.ContextEncoder(3, features=4, bottleneck=6)
  variables = _variables(net, x, train=False)
  out, _ = net.apply(variables, x, train=True, mutable=['batch_stats'])
  assert out.shape == (2, 32, 32, 3) and np.all(np.abs(out) <= 1)
  assert variables['params']['channelwise']['kernel'].shape == (16, 16, 16)
  assert variables['params']['mix_channels']['kernel'].shape == (1, 1, 16, 6)
  features = np.random.default_rng(8).normal(size=(2, 4, 4, 5)).astype(np.float32)
  layer = i2i.ChannelwiseDense()
  kernel = _variables(layer, features)['params']['kernel']
  flat = features.reshape(2, 16, 5)  # row-major: position p = 4 * row + column
  expected = np.stack([flat[..., c] @ np.asarray(kernel)[c] for c in range(5)], axis=-1)
  np.testing.assert_allclose(layer.apply({'params': {'kernel': kernel}}, features),
                             expected.reshape(2, 4, 4, 5), rtol=1e-5, atol=1e-5)
  one = lambda f: layer.apply({'params': {'kernel': kernel}}, f)[0, 1, 2, 3]
  grad = np.asarray(jax.grad(one)(features))[0]
  assert np.all(grad[..., 3] != 0) and np.all(np.delete(grad, 3, axis=-1) == 0)
  for shape in [(1, 12, 12, 4), (1, 4, 4, 4), (1, 16, 32, 4)]:
    with pytest.raises(ValueError, match='power of two'):
      net.apply(variables, jnp.ones(shape), train=False)
