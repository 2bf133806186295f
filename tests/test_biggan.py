"""BigGAN-deep (jaxgan/models/biggan.py, configs/biggan.py): the 128 preset's parameter counts
against the paper's table, hierarchical conditional batch norm and the residual skips against
hand computations, orthogonal regularization against its formula, the truncated latents'
variance against the truncated normal's, refusals, and the tiny preset's compiled steps."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import REPO
from jaxgan import config_lib
from jaxgan import families
from jaxgan.adversarial import penalties
from jaxgan.data import sources as data
from jaxgan.models import biggan
from jaxgan.models import normalization
from jaxgan.training import trainer as train
from zoo_testing import tiny_zoo_config

CONFIG = f'{REPO}/configs/biggan.py'


def _options(spectral_norm=False):
  return normalization.NetworkOptions(
      norm='none', spectral_norm=spectral_norm, spectral_norm_steps=1, num_classes=3,
      conditioning='projection', dtype=jnp.float32)


def _count(tree) -> int:
  return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(tree))


def _table_parameters(ch=128, latent=128, embedding=128, classes=1000):
  """(G, D) parameters of BigGAN-deep 128 counted from the paper's table (arXiv:1809.11096,
  appendix B) with this codebase's layers: convolutions and dense layers with biases, CBN
  projections without, SAGAN attention (f, g: C -> C/8; h, v: C -> C; gamma)."""
  condition = embedding + latent

  def conv(kernel, fan_in, fan_out):
    return kernel * kernel * fan_in * fan_out + fan_out

  def attention(c):
    return 2 * conv(1, c, c // 8) + 2 * conv(1, c, c) + 1

  def g_block(fan_in, fan_out):
    hidden = fan_in // 4
    cbn = 2 * condition * (fan_in + 3 * hidden)
    return conv(1, fan_in, hidden) + 2 * conv(3, hidden, hidden) + conv(1, hidden, fan_out) + cbn

  def d_block(fan_in, fan_out):
    hidden = fan_out // 4
    skip = conv(1, fan_in, fan_out - fan_in) if fan_out > fan_in else 0
    return conv(1, fan_in, hidden) + 2 * conv(3, hidden, hidden) + conv(1, hidden, fan_out) + skip

  g = classes * embedding + (condition + 1) * 4 * 4 * 16 * ch  # shared embedding, linear
  for fan_in, fan_out, side in zip((16, 16, 8, 4, 2), (16, 8, 4, 2, 1), (8, 16, 32, 64, 128)):
    g += g_block(fan_in * ch, fan_in * ch) + g_block(fan_in * ch, fan_out * ch)
    g += attention(fan_out * ch) if side == 64 else 0
  g += 2 * ch + conv(3, ch, 3)  # BN -> ReLU -> conv to RGB
  d = conv(3, 3, ch)
  for fan_in, fan_out, side in zip((1, 2, 4, 8, 16), (2, 4, 8, 16, 16), (64, 32, 16, 8, 4)):
    d += d_block(fan_in * ch, fan_out * ch) + d_block(fan_out * ch, fan_out * ch)
    d += attention(fan_out * ch) if side == 64 else 0
  d += 16 * ch + 1 + classes * 16 * ch  # linear head and projection embedding
  return g, d


def test_128_preset_has_the_papers_parameter_counts():
  """Shapes only (jax.eval_shape): G 50.3M, D 34.7M against the paper's 50.4M and 34.6M. The
  SAGAN attention block has 65,536 more weights than BigGAN's in each network (its value and
  output convolutions are C x C, BigGAN's C x C/2 and C/2 x C)."""
  config = config_lib.load_config(f'{CONFIG}:128')
  assert (config.data.name, config.data.image_size, config.model.attention_resolution) == (
      'imagenet2012', 128, 64)
  assert config.train.batch_size == 2 * 2048 and config.gan.n_critic == 2
  family = families.make(config)
  batch = {'image': np.zeros((1, 128, 128, 3), np.uint8), 'label': np.zeros((1,), np.int32)}
  state = jax.eval_shape(family.init, jax.random.key(0), batch)
  g, d = _count(state.generator.params), _count(state.discriminator.params)
  assert (g, d) == _table_parameters()
  assert abs(g - 50.4e6) / 50.4e6 < 0.005 and abs(d - 34.6e6) / 34.6e6 < 0.005
  assert _count(state.networks) == 4 * g + 3 * d + _count(state.generator.collections) + _count(
      state.discriminator.collections) + 2 * 3  # EMA and 2 Adam moments of G; steps and counts
  images = jax.eval_shape(lambda s, key: family.sample(s, key, 2), state, jax.random.key(0))
  assert images.shape == (2, 128, 128, 3)


def test_128_preset_without_imagenet_prepared_is_one_line(tmp_path):
  config = config_lib.load_config(f'{CONFIG}:128')
  config.data.data_dir = str(tmp_path)
  with pytest.raises(data.DatasetError, match="Dataset 'imagenet2012' is not prepared in"):
    data.open_source(config.data, config.data.train_split)


def test_hierarchical_batch_norm_matches_a_hand_computation():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(4, 2, 3, 5)).astype(np.float32)
  condition = rng.normal(size=(4, 6)).astype(np.float32)
  norm = biggan.HierarchicalBatchNorm(_options())
  variables = norm.init(jax.random.key(0), x, condition, train=False)
  gain, bias = (rng.normal(size=(6, 5)).astype(np.float32) for _ in range(2))
  variables = {**variables, 'params': {'gain': {'kernel': gain}, 'bias': {'kernel': bias}}}
  out, updates = norm.apply(variables, x, condition, train=True, mutable=['batch_stats'])
  mean, var = x.mean((0, 1, 2)), x.var((0, 1, 2))
  scale = (1 + condition @ gain)[:, None, None]
  expected = (x - mean) / np.sqrt(var + 1e-5) * scale + (condition @ bias)[:, None, None]
  np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
  stats = updates['batch_stats']['BatchNorm_0']
  np.testing.assert_allclose(stats['mean'], 0.1 * mean, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(stats['var'], 0.9 + 0.1 * var, rtol=1e-5)
  # Inference uses the running statistics: here the initial mean 0 and variance 1.
  evaluated = norm.apply(variables, x, condition, train=False)
  np.testing.assert_allclose(evaluated, x / np.sqrt(1 + 1e-5) * scale + (
      condition @ bias)[:, None, None], rtol=1e-4, atol=1e-5)


def _zero_last_conv(params, name):
  """params with conv `name`'s kernel and bias zeroed: the block's residual branch outputs 0."""
  conv = params[name]
  return {**params, name: jax.tree.map(jnp.zeros_like, conv)}


def test_generator_block_skip_drops_channels_and_upsamples():
  x = np.random.default_rng(1).normal(size=(2, 3, 3, 8)).astype(np.float32)
  condition = jnp.ones((2, 4))
  block = biggan.GeneratorBlock(width=5, upsample=True, options=_options())
  variables = block.init(jax.random.key(0), x, condition, train=False)
  params = _zero_last_conv(variables['params'], 'Conv_3')  # the final 1x1 conv to 5 channels
  out = block.apply({**variables, 'params': params}, x, condition, train=False)
  np.testing.assert_array_equal(out, np.repeat(np.repeat(x[..., :5], 2, 1), 2, 2))
  assert block.apply(variables, x, condition, train=False).shape == (2, 6, 6, 5)


def test_discriminator_block_skip_pools_and_appends_a_projection():
  x = np.random.default_rng(2).normal(size=(2, 4, 4, 3)).astype(np.float32)
  block = biggan.DiscriminatorBlock(width=8, downsample=True, options=_options())
  variables = block.init(jax.random.key(0), x, train=False)
  params = _zero_last_conv(variables['params'], 'Conv_3')
  out = np.asarray(block.apply({**variables, 'params': params}, x, train=False))
  pooled = x.reshape(2, 2, 2, 2, 2, 3).mean((2, 4))
  np.testing.assert_allclose(out[..., :3], pooled, rtol=1e-6)
  skip = params['Conv_4']
  np.testing.assert_allclose(out[..., 3:], pooled @ np.asarray(skip['kernel'][0, 0]) + np.asarray(
      skip['bias']), rtol=1e-5, atol=1e-6)


def test_orthogonal_regularization_is_the_formula_on_hand_matrices():
  """||W^T W * (1 - I)||_F^2 summed over kernels: W = [[1, 2], [0, 1], [1, 0]] has filters
  (1, 0, 1), (2, 1, 0) with inner product 2 (penalty 2 * 2^2 = 8); the conv kernel's filters
  (1, 0), (1, 1) have inner product 1 (penalty 2); embeddings and biases are left out."""
  dense = jnp.array([[1.0, 2.0], [0.0, 1.0], [1.0, 0.0]])
  conv = jnp.array([[1.0, 1.0], [0.0, 1.0]]).reshape(1, 2, 1, 2)
  params = {'Dense_0': {'kernel': dense, 'bias': jnp.ones(2)},
            'block': {'Conv_0': {'kernel': conv}},
            'shared_embedding': {'embedding': jnp.ones((3, 2))}}
  assert float(penalties.orthogonal_regularization(params)) == 8.0 + 2.0
  # The gradient of ||W^T W * (1 - I)||_F^2 is 4 W (W^T W * (1 - I)); BigGAN-PyTorch adds half.
  grads = jax.grad(penalties.orthogonal_regularization)(params)
  off_diagonal = dense.T @ dense * (1 - jnp.eye(2))
  np.testing.assert_allclose(grads['Dense_0']['kernel'], 4 * dense @ off_diagonal)
  assert not np.any(grads['shared_embedding']['embedding'])
  orthogonal = jnp.array([[0.6, -0.8], [0.8, 0.6]])
  assert float(penalties.orthogonal_regularization({'kernel': 3.0 * orthogonal})) < 1e-10


def test_truncated_latents_lie_within_the_threshold_with_the_truncated_normals_variance():
  threshold = 0.5
  z = np.asarray(biggan.truncated_latents(jax.random.key(0), 4000, 32, threshold))
  assert z.shape == (4000, 32) and np.abs(z).max() <= threshold
  density = math.exp(-threshold ** 2 / 2) / math.sqrt(2 * math.pi)
  variance = 1 - 2 * threshold * density / math.erf(threshold / math.sqrt(2))
  np.testing.assert_allclose(z.var(), variance, rtol=0.02)


@pytest.mark.parametrize('override, message', [
    ({'model__generator_norm': 'batch'}, 'generator_norm'),
    ({'model__attention_resolution': 7}, 'attention_resolution=7'),
    ({'model__generator_widths': (8, 8, 16)}, 'must not grow along G'),
    ({'model__generator_widths': (8, 8, 8, 8)}, 'must halve once per BigGAN stage'),
    ({'gan__orthogonal_weight': -1.0}, 'orthogonal_weight'),
])
def test_bad_biggan_configs_are_refused_before_compute(override, message):
  with pytest.raises(config_lib.ConfigError, match=message):
    families.make(tiny_zoo_config('biggan', **override))


def test_unknown_preset_is_refused():
  with pytest.raises(config_lib.ConfigError, match="choose one of \\['128', 'tiny'\\]"):
    config_lib.load_config(f'{CONFIG}:256')


def test_tiny_preset_trains_with_orthogonal_regularization_and_generates_by_label():
  """test_configs' checks of three compiled steps (finite metrics, every network's parameters
  moved), and G's orthogonal penalty at step 1 is the formula at G's initial parameters;
  truncated latents with given labels give images in [-1, 1]."""
  config = tiny_zoo_config('biggan')
  assert config.model.attention_resolution == 14 and config.gan.orthogonal_weight == 1e-4
  family = families.make(config)
  kept = []  # the initial state, as the trainer's run made it (initialized and compiled once)
  state, history, _ = train.run_steps(config, 3, jax.devices()[:1],
                                      lambda initial: kept.append(jax.device_get(initial))
                                      or initial)
  initial = kept[0]
  assert all(np.isfinite(value) for metrics in history for value in metrics.values()), history
  for network, before in initial.networks.items():
    assert any(not np.array_equal(a, b) for a, b in zip(
        jax.tree.leaves(state.networks[network].params), jax.tree.leaves(before.params))), network
  np.testing.assert_allclose(history[0]['generator_orthogonal_penalty'], float(
      jax.jit(penalties.orthogonal_regularization)(initial.generator.params)), rtol=1e-5)
  z = biggan.truncated_latents(jax.random.key(1), 4, config.model.latent_dim, 1.0)
  images = np.asarray(jax.jit(family.generate)(state, z, jnp.array([0, 3, 3, 9])))
  assert images.shape == (4, 28, 28, 1) and np.all(np.abs(images) <= 1.0)
  assert not np.array_equal(images[1], images[2])  # same label, other latents
