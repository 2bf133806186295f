"""ProGAN networks (arXiv:1710.10196): fade-in against the previous phase's network, equalized
learning rate against a plain PyTorch convolution and Adam, minibatch stddev and pixel norm
against numpy, a PyTorch twin of each network with copied weights, shapes and errors."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
import torch.nn.functional as F

from jaxgan.models import progan
from torch_twins import random_variables
from torch_twins import tensor
from torch_twins import to_numpy
from torch_twins import to_torch

RES, FEATURES, CHANNELS, LATENT, BATCH = (4, 8, 16), (16, 8, 8), 3, 6, 8
G = progan.Generator(RES, FEATURES, CHANNELS)
D = progan.Discriminator(RES, FEATURES)


@pytest.fixture(scope='module')
def z():
  return jax.random.normal(jax.random.key(1), (BATCH, LATENT))


@pytest.fixture(scope='module')
def images():
  return jax.random.normal(jax.random.key(2), (BATCH, RES[-1], RES[-1], CHANNELS))


@pytest.fixture(scope='module')
def g_vars(z):
  return jax.jit(lambda z: progan.init_all(G, jax.random.key(0), z))(z)


@pytest.fixture(scope='module')
def d_vars(images):
  return jax.jit(lambda x: progan.init_all(D, jax.random.key(0), x))(images)


def _perturb(variables, name):
  params = dict(variables['params'])
  params[name] = jax.tree.map(lambda p: p + 0.5, params[name])
  return {'params': params}


def test_init_creates_every_resolution_with_readable_names(g_vars, d_vars):
  assert set(g_vars['params']) == {f'{kind}_{r}' for kind in ('block', 'to_rgb') for r in RES}
  assert set(d_vars['params']) == {f'{kind}_{r}' for kind in ('block', 'from_rgb') for r in RES}
  assert set(g_vars['params']['block_4']) == {'dense', 'bias', 'conv'}
  assert set(g_vars['params']['block_8']) == {'conv0', 'conv1'}
  assert set(d_vars['params']['block_4']) == {'conv', 'dense0', 'dense1'}
  # D's 4x4 conv sees the features plus the minibatch stddev channel.
  assert d_vars['params']['block_4']['conv']['kernel'].shape == (3, 3, FEATURES[0] + 1, 16)


@pytest.mark.parametrize('level', range(len(RES)))
def test_shapes_and_dtypes_at_every_level(g_vars, d_vars, z, level):
  fake = G.apply(g_vars, z, level=level, alpha=0.3)
  assert fake.shape == (BATCH, RES[level], RES[level], CHANNELS) and fake.dtype == jnp.float32
  logits = D.apply(d_vars, fake, level=level, alpha=0.3)
  assert logits.shape == (BATCH,) and logits.dtype == jnp.float32


@pytest.mark.parametrize('level', [1, 2])
def test_generator_fade_in(g_vars, z, level):
  r, previous = RES[level], RES[level - 1]
  grown = lambda v, a: np.asarray(G.apply(v, z, level=level, alpha=a))
  before = G.apply(g_vars, z, level=level - 1, alpha=1.0)  # the previous phase, stable
  np.testing.assert_allclose(grown(g_vars, 0.0), progan.upsample_nearest(before, 2), atol=1e-6)

  def new_block_alone(m, z):
    h = progan.pixel_norm(z)
    for below in RES[:level]:
      h = m.block[below](h)
    return m.to_rgb[r](m.block[r](h))
  new = np.asarray(G.apply(g_vars, z, method=new_block_alone))
  np.testing.assert_allclose(grown(g_vars, 1.0), new, atol=1e-6)
  np.testing.assert_array_equal(grown(_perturb(g_vars, f'to_rgb_{previous}'), 1.0),
                                grown(g_vars, 1.0))
  assert np.abs(grown(g_vars, 0.0) - new).max() > 1e-2  # the two ends differ
  np.testing.assert_allclose(grown(g_vars, 0.25), 0.75 * grown(g_vars, 0.0) + 0.25 * new,
                             atol=1e-5)


def test_level_zero_ignores_alpha(g_vars, d_vars, z, images):
  np.testing.assert_array_equal(G.apply(g_vars, z, level=0, alpha=0.0),
                                G.apply(g_vars, z, level=0, alpha=1.0))
  small = progan.downsample_average(images, 4)
  np.testing.assert_array_equal(D.apply(d_vars, small, level=0, alpha=0.0),
                                D.apply(d_vars, small, level=0, alpha=1.0))


@pytest.mark.parametrize('level', [1, 2])
def test_discriminator_fade_in(d_vars, images, level):
  x = progan.downsample_average(images, RES[-1] // RES[level])
  grown = lambda v, a: np.asarray(D.apply(v, x, level=level, alpha=a))
  before = D.apply(d_vars, progan.downsample_average(x, 2), level=level - 1, alpha=1.0)
  np.testing.assert_allclose(grown(d_vars, 0.0), before, atol=1e-6)
  np.testing.assert_array_equal(grown(_perturb(d_vars, f'from_rgb_{RES[level - 1]}'), 1.0),
                                grown(d_vars, 1.0))
  assert np.abs(grown(d_vars, 0.0) - grown(d_vars, 1.0)).max() > 1e-4
  # ... and the new from_rgb matters at alpha = 1.
  assert np.abs(grown(_perturb(d_vars, f'from_rgb_{RES[level]}'), 1.0)
                - grown(d_vars, 1.0)).max() > 1e-4


def _torch_conv(x, kernel, bias, gain=math.sqrt(2)):
  """A plain PyTorch convolution with the effective (He-scaled) weight of an equalized one."""
  kernel = np.asarray(kernel)
  scale = gain / math.sqrt(kernel.shape[0] * kernel.shape[1] * kernel.shape[2])
  return F.conv2d(x, tensor(kernel).permute(3, 2, 0, 1) * scale, tensor(bias),
                  padding=kernel.shape[0] // 2)


@pytest.mark.parametrize('equalized', [True, False])
def test_equalized_conv_init_and_forward(equalized):
  x = jax.random.normal(jax.random.key(3), (2, 5, 5, 64))
  layer = progan.EqualizedConv(256, 3, equalized=equalized)
  params = layer.init(jax.random.key(4), x)['params']
  he = math.sqrt(2) / math.sqrt(3 * 3 * 64)
  std = float(np.std(params['kernel']))
  assert std == pytest.approx(1.0 if equalized else he, rel=0.02)  # 147k samples
  np.testing.assert_array_equal(params['bias'], 0)
  params = dict(params, bias=jnp.linspace(-1, 1, 256))
  out = layer.apply({'params': params}, x)
  kernel = np.asarray(params['kernel']) * (1.0 if equalized else 1 / he)  # effective / he
  expected = to_numpy(_torch_conv(to_torch(x), kernel, params['bias']))
  np.testing.assert_allclose(out, expected, atol=1e-4)


@pytest.mark.parametrize('equalized', [True, False])
def test_equalized_dense_init_and_forward(equalized):
  x = jax.random.normal(jax.random.key(3), (4, 512))
  layer = progan.EqualizedDense(300, gain=0.5, equalized=equalized)
  params = layer.init(jax.random.key(4), x)['params']
  he = 0.5 / math.sqrt(512)
  assert float(np.std(params['kernel'])) == pytest.approx(1.0 if equalized else he, rel=0.02)
  effective = np.asarray(params['kernel'], np.float64) * (he if equalized else 1.0)
  np.testing.assert_allclose(layer.apply({'params': params}, x),
                             np.asarray(x, np.float64) @ effective, atol=1e-4)


def test_equalized_gradient_is_scale_times_the_effective_weights_gradient():
  x = jax.random.normal(jax.random.key(5), (2, 6, 6, 8))
  cotangent = jax.random.normal(jax.random.key(6), (2, 6, 6, 4))
  layer = progan.EqualizedConv(4, 3)
  params = layer.init(jax.random.key(7), x)['params']
  grad = jax.grad(lambda p: jnp.sum(layer.apply({'params': p}, x) * cotangent))(params)
  scale = math.sqrt(2) / math.sqrt(3 * 3 * 8)
  weight = (tensor(params['kernel']).permute(3, 2, 0, 1) * scale).requires_grad_()
  out = F.conv2d(to_torch(x), weight, padding=1)
  (out * to_torch(cotangent)).sum().backward()
  effective_grad = weight.grad.permute(2, 3, 1, 0).numpy()
  np.testing.assert_allclose(grad['kernel'], scale * effective_grad, rtol=1e-4, atol=1e-5)


def _relative_adam_step(in_channels: int, equalized: bool) -> float:
  """Mean |change of the effective weight| / He's constant after one Adam step."""
  x = jax.random.normal(jax.random.key(8), (2, 6, 6, in_channels))
  layer = progan.EqualizedConv(8, 3, equalized=equalized)
  params = layer.init(jax.random.key(9), x)['params']
  loss = lambda p: jnp.mean(layer.apply({'params': p}, x) ** 2)
  optimizer = optax.adam(1e-3)
  updates, _ = optimizer.update(jax.grad(loss)(params), optimizer.init(params), params)
  he = progan.he_scale(9 * in_channels)
  step = np.abs(np.asarray(updates['kernel'])) * (he if equalized else 1.0)
  return float(step.mean() / he)


def test_equalized_lr_makes_adam_steps_equally_large_relative_to_the_weights():
  """Sec. 4.1: Adam's step is ~lr whatever the gradient's scale, so with run-time scaling the
  effective weights move by lr * He's constant: the same fraction of their std in every layer;
  without it small-fan-in layers move relatively less."""
  narrow, wide = (_relative_adam_step(c, True) for c in (2, 128))
  assert narrow == pytest.approx(1e-3, rel=0.05) and wide == pytest.approx(1e-3, rel=0.05)
  narrow, wide = (_relative_adam_step(c, False) for c in (2, 128))
  assert narrow / wide == pytest.approx(1 / 8, rel=0.05)  # sqrt(fan_in ratio 64)


def test_pixel_norm_formula():
  x = np.random.default_rng(0).normal(size=(2, 3, 3, 5)).astype(np.float32) * 3
  expected = x / np.sqrt((x ** 2).sum(-1, keepdims=True) / 5 + 1e-8)
  np.testing.assert_allclose(progan.pixel_norm(jnp.asarray(x)), expected, rtol=1e-5)


def _stddev_reference(x: np.ndarray, group_size: int) -> np.ndarray:
  """The layer in loops: example i is in group i // G (contiguous groups)."""
  n, h, w, _ = x.shape
  size = min(group_size, n)
  num_groups = n // size
  extra = np.zeros((n, h, w, 1))
  for group in range(num_groups):
    members = [i for i in range(n) if i // size == group]
    mean = sum(x[i] for i in members) / size
    variance = sum((x[i] - mean) ** 2 for i in members) / size
    for i in members:
      extra[i] = np.sqrt(variance + 1e-8).mean()
  return np.concatenate([x, extra], -1)


@pytest.mark.parametrize('n, group_size', [(8, 4), (6, 2), (3, 4), (4, 1)])
def test_minibatch_stddev_against_loops(n, group_size):
  rng = np.random.default_rng(n)
  # Each example its own scale, so a wrong group assignment changes the result.
  x = rng.normal(size=(n, 3, 3, 5)) * np.arange(1, n + 1)[:, None, None, None] ** 2
  out = progan.minibatch_stddev(jnp.asarray(x, jnp.float32), group_size)
  np.testing.assert_allclose(out, _stddev_reference(x, group_size), rtol=1e-5)


def test_resampling_against_loops():
  x = np.random.default_rng(1).normal(size=(2, 4, 6, 3)).astype(np.float32)
  down = np.zeros((2, 2, 3, 3), np.float32)
  for i in range(2):
    for j in range(3):
      down[:, i, j] = x[:, 2 * i:2 * i + 2, 2 * j:2 * j + 2].mean((1, 2))
  np.testing.assert_allclose(progan.downsample_average(jnp.asarray(x), 2), down, rtol=1e-6)
  up = np.asarray(progan.upsample_nearest(jnp.asarray(x), 2))
  for i in range(8):
    for j in range(12):
      np.testing.assert_array_equal(up[:, i, j], x[:, i // 2, j // 2])


def _torch_generator(params, z, level, alpha):
  """G_paper in PyTorch, NCHW, on the Flax parameters."""
  pn = lambda x: x / torch.sqrt((x ** 2).mean(1, keepdim=True) + 1e-8)
  act = lambda x: pn(F.leaky_relu(x, 0.2))
  conv = lambda x, p, gain=math.sqrt(2): _torch_conv(x, p['kernel'], p['bias'], gain)
  up = lambda x: F.interpolate(x, scale_factor=2, mode='nearest')
  block = params['block_4']
  dense = tensor(block['dense']['kernel'])
  x = pn(tensor(z)) @ dense * (math.sqrt(2) / 4 / math.sqrt(dense.shape[0]))
  x = x.reshape(len(z), 4, 4, FEATURES[0]).permute(0, 3, 1, 2)
  x = act(conv(act(x + tensor(block['bias'])[None, :, None, None]), block['conv']))
  grow = lambda x, r: act(conv(act(conv(up(x), params[f'block_{r}']['conv0'])),
                               params[f'block_{r}']['conv1']))
  for r in RES[1:level]:
    x = grow(x, r)
  old = up(conv(x, params[f'to_rgb_{RES[level - 1]}'], 1.0))
  return torch.lerp(old, conv(grow(x, RES[level]), params[f'to_rgb_{RES[level]}'], 1.0), alpha)


def _torch_discriminator(params, images, level, alpha):
  """D_paper in PyTorch, NCHW, on the Flax parameters (minibatch stddev, contiguous groups of 4)."""
  act = lambda x: F.leaky_relu(x, 0.2)
  conv = lambda x, p, gain=math.sqrt(2): _torch_conv(x, p['kernel'], p['bias'], gain)
  dense = lambda x, p, gain=math.sqrt(2): x @ (tensor(p['kernel']) * gain / math.sqrt(
      p['kernel'].shape[0])) + tensor(p['bias'])
  x = to_torch(images)
  r = RES[level]
  h = act(conv(x, params[f'from_rgb_{r}']))
  h = F.avg_pool2d(act(conv(act(conv(h, params[f'block_{r}']['conv0'])),
                            params[f'block_{r}']['conv1'])), 2)
  h = torch.lerp(act(conv(F.avg_pool2d(x, 2), params[f'from_rgb_{RES[level - 1]}'])), h, alpha)
  for below in reversed(RES[1:level]):
    block = params[f'block_{below}']
    h = F.avg_pool2d(act(conv(act(conv(h, block['conv0'])), block['conv1'])), 2)
  y = h.reshape(-1, 4, *h.shape[1:])  # contiguous groups of 4
  y = torch.sqrt(((y - y.mean(1, keepdim=True)) ** 2).mean(1) + 1e-8).mean((1, 2, 3))
  h = torch.cat([h, y.repeat_interleave(4)[:, None, None, None].expand(-1, 1, 4, 4)], 1)
  h = act(conv(h, params['block_4']['conv'])).permute(0, 2, 3, 1).reshape(len(h), -1)
  return dense(act(dense(h, params['block_4']['dense0'])), params['block_4']['dense1'], 1.0)[:, 0]


def _twin_params(module, x):
  """Random parameters, biases N(0, 0.1) and kernels N(0, 1) as an equalized layer's own (the
  twins' copy scales them by He's constant), so every layer shapes the output."""
  variables = random_variables(module, x, method=module.every_level)['params']
  return jax.tree_util.tree_map_with_path(
      lambda path, p: p * np.sqrt(np.prod(p.shape[:-1])) if 'kernel' in jax.tree_util.keystr(path)
      else p, variables)


@pytest.mark.parametrize('level', [1, 2])
def test_torch_twins(z, images, level):
  g_params = _twin_params(G, z)
  fake = G.apply({'params': g_params}, z, level=level, alpha=0.3)
  np.testing.assert_allclose(
      fake, to_numpy(_torch_generator(g_params, np.asarray(z), level, 0.3)), atol=1e-4)
  d_params = _twin_params(D, images)
  logits = D.apply({'params': d_params}, fake, level=level, alpha=0.3)
  assert np.std(logits) > 1e-2
  np.testing.assert_allclose(
      logits, _torch_discriminator(d_params, fake, level, 0.3).detach().numpy(), atol=1e-4)


def test_bad_configurations_raise(g_vars, d_vars, z, images):
  for resolutions, features in [((4, 8, 16), (16, 8)), ((8, 16), (8, 8)), ((4, 8, 32), (8,) * 3),
                                ((), ())]:
    with pytest.raises(ValueError, match='ProGAN'):
      progan.init_all(progan.Generator(resolutions, features, 3), jax.random.key(0), z)
    with pytest.raises(ValueError, match='ProGAN'):
      progan.init_all(progan.Discriminator(resolutions, features), jax.random.key(0), images)
  with pytest.raises(ValueError, match='divisible'):
    D.apply(d_vars, images[:6], level=2, alpha=0.5)
  with pytest.raises(ValueError, match='level'):
    G.apply(g_vars, z, level=3, alpha=0.5)
  with pytest.raises(ValueError, match='16x16'):
    D.apply(d_vars, images[:, :8, :8], level=2, alpha=0.5)


def test_alpha_none_is_the_new_block_alone_without_the_old_path():
  g, d = G, D
  z = jax.random.normal(jax.random.key(0), (BATCH, LATENT))
  images = jax.random.normal(jax.random.key(1), (BATCH, RES[-1], RES[-1], CHANNELS))
  g_vars = progan.init_all(g, jax.random.key(2), z)
  d_vars = progan.init_all(d, jax.random.key(3), images)
  level = len(RES) - 1
  np.testing.assert_allclose(g.apply(g_vars, z, level, None), g.apply(g_vars, z, level, 1.0),
                             atol=1e-6)
  np.testing.assert_allclose(d.apply(d_vars, images, level, None),
                             d.apply(d_vars, images, level, 1.0), atol=1e-5)
