"""Super-resolution networks against PyTorch twins (BasicSR's architectures) with the same weights."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skimage_data
from torch import nn as tnn
from torch.nn import functional as F

from jaxgan.models import super_resolution as sr_models


def _conv_weights(conv: tnn.Conv2d, params: dict, out_order=None) -> None:
  kernel = np.asarray(params['kernel']).transpose(3, 2, 0, 1)  # HWIO -> OIHW
  bias = np.array(params['bias'])
  if out_order is not None:
    kernel, bias = kernel[out_order], bias[out_order]
  conv.weight.data = torch.from_numpy(np.ascontiguousarray(kernel))
  conv.bias.data = torch.from_numpy(np.ascontiguousarray(bias))


def _to_torch(images):
  return torch.from_numpy(np.asarray(images).transpose(0, 3, 1, 2).copy())


def _to_numpy(tensor):
  return tensor.detach().numpy().transpose(0, 2, 3, 1)


class TorchSRResNet(tnn.Module):
  """Ledig et al.'s generator without BN, written as BasicSR writes MSRResNet's parts."""

  def __init__(self, features, num_blocks, scale, channels):
    super().__init__()
    self.head = tnn.Conv2d(channels, features, 9, padding=4)
    self.head_act = tnn.PReLU()
    self.blocks = tnn.ModuleList(
        [tnn.Sequential(tnn.Conv2d(features, features, 3, padding=1), tnn.ReLU(),
                        tnn.Conv2d(features, features, 3, padding=1))
         for _ in range(num_blocks)])
    self.trunk = tnn.Conv2d(features, features, 3, padding=1)
    stages = int(np.log2(scale))
    self.ups = tnn.ModuleList([tnn.Conv2d(features, 4 * features, 3, padding=1)
                               for _ in range(stages)])
    self.up_acts = tnn.ModuleList([tnn.PReLU() for _ in range(stages)])
    self.tail = tnn.Conv2d(features, channels, 9, padding=4)

  def forward(self, x):
    head = self.head_act(self.head(x))
    y = head
    for block in self.blocks:
      y = y + block(y)
    y = head + self.trunk(y)
    for up, act in zip(self.ups, self.up_acts):
      y = act(F.pixel_shuffle(up(y), 2))
    return self.tail(y)


class TorchRRDBNet(tnn.Module):
  """BasicSR's RRDBNet (ESRGAN), parameterised small."""

  def __init__(self, features, num_blocks, growth, scale, channels):
    super().__init__()
    self.conv_first = tnn.Conv2d(channels, features, 3, padding=1)
    self.rdbs = tnn.ModuleList([
        tnn.ModuleList([tnn.Conv2d(features + i * growth, features if i == 4 else growth, 3,
                                   padding=1) for i in range(5)])
        for _ in range(3 * num_blocks)])
    self.num_blocks = num_blocks
    self.conv_body = tnn.Conv2d(features, features, 3, padding=1)
    self.ups = tnn.ModuleList([tnn.Conv2d(features, features, 3, padding=1)
                               for _ in range(int(np.log2(scale)))])
    self.conv_hr = tnn.Conv2d(features, features, 3, padding=1)
    self.conv_last = tnn.Conv2d(features, channels, 3, padding=1)

  def rdb(self, convs, x):
    outs = [x]
    for conv in convs[:4]:
      outs.append(F.leaky_relu(conv(torch.cat(outs, 1)), 0.2))
    return convs[4](torch.cat(outs, 1)) * 0.2 + x

  def forward(self, x):
    feat = self.conv_first(x)
    body = feat
    for b in range(self.num_blocks):
      out = body
      for k in range(3):
        out = self.rdb(self.rdbs[3 * b + k], out)
      body = out * 0.2 + body
    feat = feat + self.conv_body(body)
    for up in self.ups:
      feat = F.leaky_relu(up(F.interpolate(feat, scale_factor=2, mode='nearest')), 0.2)
    return self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.2))


def _randomize(params, seed):
  """Larger-than-init weights, so every layer visibly matters to the output."""
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.key(seed), len(leaves))
  return jax.tree.unflatten(tree, [0.2 * jax.random.normal(k, x.shape) for k, x in
                                   zip(keys, leaves)])


def test_srresnet_matches_its_pytorch_twin():
  scale = 4  # two sub-pixel stages
  features, blocks, channels = 8, 2, 3
  model = sr_models.SRResNet(scale, channels, features, blocks, image_skip='none')
  images = np.random.default_rng(0).uniform(-1, 1, (2, 7, 9, channels)).astype(np.float32)
  params = _randomize(model.init(jax.random.key(0), images)['params'], 1)
  twin = TorchSRResNet(features, blocks, scale, channels)
  convs = [params[f'Conv_{i}'] for i in range(len([k for k in params if k.startswith('Conv')]))]
  _conv_weights(twin.head, convs[0])
  for b, block in enumerate(twin.blocks):
    _conv_weights(block[0], convs[1 + 2 * b])
    _conv_weights(block[2], convs[2 + 2 * b])
  _conv_weights(twin.trunk, convs[1 + 2 * blocks])
  # torch's pixel_shuffle reads channel c * 4 + phase; depth_to_space reads phase * C + c.
  order = [(t % 4) * features + t // 4 for t in range(4 * features)]
  for s, up in enumerate(twin.ups):
    _conv_weights(up, convs[2 + 2 * blocks + s], order)
  _conv_weights(twin.tail, convs[-1])
  for act, name in zip([twin.head_act, *twin.up_acts], sorted(k for k in params if 'PReLU' in k)):
    act.weight.data = torch.tensor([float(params[name]['negative_slope'])])
  expected = _to_numpy(twin(_to_torch(images)))
  outputs = model.apply({'params': params}, images)
  assert outputs.shape == (2, 7 * scale, 9 * scale, channels)
  np.testing.assert_allclose(outputs, expected, atol=1e-4, rtol=1e-4)


def test_rrdb_matches_its_pytorch_twin():
  features, blocks, growth, scale, channels = 8, 2, 4, 4, 3
  model = sr_models.RRDBNet(scale, channels, features, blocks, growth, image_skip='none')
  images = np.random.default_rng(1).uniform(-1, 1, (2, 6, 5, channels)).astype(np.float32)
  params = _randomize(model.init(jax.random.key(0), images)['params'], 2)
  twin = TorchRRDBNet(features, blocks, growth, scale, channels)
  _conv_weights(twin.conv_first, params['Conv_0'])
  for r, convs in enumerate(twin.rdbs):
    for i, conv in enumerate(convs):
      _conv_weights(conv, params[f'ResidualDenseBlock_{r}'][f'Conv_{i}'])
  _conv_weights(twin.conv_body, params['Conv_1'])
  for s, up in enumerate(twin.ups):
    _conv_weights(up, params[f'Conv_{2 + s}'])
  _conv_weights(twin.conv_hr, params[f'Conv_{2 + len(twin.ups)}'])
  _conv_weights(twin.conv_last, params[f'Conv_{3 + len(twin.ups)}'])
  expected = _to_numpy(twin(_to_torch(images)))
  np.testing.assert_allclose(model.apply({'params': params}, images), expected,
                             atol=1e-4, rtol=1e-4)


def test_image_skip_is_pil_bicubic_upsampling_away_from_the_border():
  image = skimage_data.astronaut()[100:132, 200:240, 0]
  expected = np.asarray(Image.fromarray(image.astype(np.float32), 'F').resize(
      (160, 128), Image.BICUBIC))
  upsampled = np.asarray(sr_models.upsample_input(jnp.asarray(image, jnp.float32)[None, ..., None],
                                                  4))[0, ..., 0]
  interior = (slice(8, -8), slice(8, -8))
  np.testing.assert_allclose(upsampled[interior], expected[interior], atol=1e-2)


def test_zero_residual_leaves_the_bicubic_upsampling():
  model = sr_models.SRResNet(2, 1, 4, 1, image_skip='bicubic')
  images = np.random.default_rng(2).uniform(-1, 1, (1, 5, 6, 1)).astype(np.float32)
  params = model.init(jax.random.key(0), images)['params']
  last = max((k for k in params if k.startswith('Conv')), key=lambda k: int(k.split('_')[1]))
  params = {**params, last: jax.tree.map(jnp.zeros_like, params[last])}
  np.testing.assert_allclose(model.apply({'params': params}, images),
                             sr_models.upsample_input(images, 2), atol=1e-6)


def test_scale_must_be_a_power_of_two():
  with pytest.raises(ValueError, match='power of two'):
    sr_models.SRResNet(3, 3, 4, 1).init(jax.random.key(0), jnp.zeros((1, 4, 4, 3)))


def test_critic_scores_each_image_and_keeps_running_statistics():
  critic = sr_models.VggStyleDiscriminator((4, 4, 8, 8), 16)
  images = jnp.asarray(np.random.default_rng(3).uniform(-1, 1, (3, 16, 16, 3)), jnp.float32)
  variables = critic.init(jax.random.key(0), images, None, train=False)
  (logits, classes), updates = critic.apply(variables, images, None, train=True,
                                            mutable=['batch_stats'])
  assert logits.shape == (3,) and classes is None
  assert not jax.tree.all(jax.tree.map(np.array_equal, updates['batch_stats'],
                                       variables['batch_stats']))
  # One image's score does not depend on the others in inference mode.
  alone, _ = critic.apply(variables, images[:1], None, train=False)
  together, _ = critic.apply(variables, images, None, train=False)
  np.testing.assert_allclose(alone, together[:1], rtol=1e-5)
