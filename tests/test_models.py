"""Architectures, norms, spectral norm (against an SVD), self-attention (against numpy) and
label routing, parameterized over every registry entry."""
import functools

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import families
from jaxgan.families import gan
from jaxgan.models import attention
from jaxgan.models import layers
from jaxgan.models import normalization
from jaxgan.models import resnet
from zoo_testing import tiny_zoo_config

SPECTRAL = normalization.SPECTRAL


def _options(**overrides):
  fields = dict(norm='none', spectral_norm=False, spectral_norm_steps=1, num_classes=3,
                conditioning='none', dtype=jnp.float32)
  fields.update(overrides)
  return normalization.NetworkOptions(**fields)


def _power_iterate(module, variables, inputs, num_calls):
  """Calls `module` in training mode `num_calls` times, carrying the spectral vectors."""
  apply = jax.jit(lambda v: module.apply(v, *inputs, train=True,
                                          mutable=[SPECTRAL, 'batch_stats'])[1])
  for _ in range(num_calls):
    variables = dict(variables, **apply(variables))
  return variables


class _SpectralLayer(nn.Module):
  layer: nn.Module

  @nn.compact
  def __call__(self, x, train):
    return normalization.spectral(self.layer, True, train, 1)(x)


LAYERS = {
    'dense': (lambda: nn.Dense(5, use_bias=False), (2, 7)),
    'conv': (lambda: nn.Conv(6, (3, 3), use_bias=False), (2, 5, 5, 4)),
    'conv_transpose': (lambda: layers.ConvTranspose(6, (4, 4), strides=(2, 2), padding='SAME',
                                                    use_bias=False), (2, 4, 4, 3)),
}


@pytest.mark.parametrize('name', sorted(LAYERS))
def test_spectral_norm_divides_the_kernel_by_its_largest_singular_value(name):
  make_layer, shape = LAYERS[name]
  x = jax.random.normal(jax.random.key(1), shape)
  module = _SpectralLayer(make_layer())
  variables = module.init(jax.random.key(0), x, train=False)
  variables = _power_iterate(module, variables, (x,), 30)
  kernel = np.asarray(jax.tree.leaves(variables['params'])[0], np.float64)
  # Miyato et al.: the kernel as a [fan_in, fan_out] matrix (all axes but the output one).
  sigma = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
  stored_sigma = [v for k, v in flax.traverse_util.flatten_dict(variables[SPECTRAL]).items()
                  if k[-1].endswith('sigma')][0]
  np.testing.assert_allclose(stored_sigma, sigma, rtol=1e-2)
  normalized = (kernel / sigma).reshape(-1, kernel.shape[-1])
  np.testing.assert_allclose(np.linalg.svd(normalized, compute_uv=False)[0], 1.0, rtol=1e-2)
  # The layer computes with kernel / sigma: compare with the plain layer on that kernel.
  plain = make_layer().apply({'params': {'kernel': jnp.float32(kernel / sigma)}}, x)
  np.testing.assert_allclose(module.apply(variables, x, train=False), plain, rtol=1e-2,
                             atol=1e-4)


def test_spectral_vectors_change_only_in_training():
  module = _SpectralLayer(nn.Dense(4))
  x = jnp.ones((2, 3))
  variables = module.init(jax.random.key(0), x, train=False)
  _, evaluated = module.apply(variables, x, train=False, mutable=[SPECTRAL])
  _, trained = module.apply(variables, x, train=True, mutable=[SPECTRAL])
  same = jax.tree.map(np.array_equal, evaluated[SPECTRAL], variables[SPECTRAL])
  assert all(jax.tree.leaves(same))
  assert not all(jax.tree.leaves(jax.tree.map(np.array_equal, trained[SPECTRAL],
                                              variables[SPECTRAL])))


@pytest.mark.parametrize('config_name', ['sngan', 'sagan'])
def test_every_spectrally_normalized_kernel_of_a_network_matches_its_svd(config_name):
  config = tiny_zoo_config(config_name, model__spectral_norm_steps=25, data__image_size=16)
  if config.model.name == 'resnet':
    config.model.attention_resolution = 8  # the G and D blocks' side at 16x16
  family = families.make(config)
  labels = jnp.arange(4) % 3 if family.conditional else None
  module = family.generator if config.model.generator_spectral_norm else family.critic.module
  inputs = ((jnp.ones((4, config.model.latent_dim)), labels)
            if module is family.generator else (jnp.ones((4, 16, 16, 1)), labels))
  variables = module.init(jax.random.key(0), *inputs, train=False)
  variables = _power_iterate(module, variables, inputs, 20)  # 500 iterations
  params = flax.traverse_util.flatten_dict(variables['params'], sep='/')
  checked = 0
  for path, sigma in flax.traverse_util.flatten_dict(variables[SPECTRAL], sep='/').items():
    if not path.endswith('/sigma'):
      continue
    parent = path.split('/')[:-4]  # [..., SpectralNorm_k, layer, param, 'sigma']
    layer, param = path.split('/')[-3:-1]
    kernel = np.asarray(params['/'.join(parent + [layer, param])], np.float64)
    true_sigma = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
    np.testing.assert_allclose(sigma, true_sigma, rtol=1e-2, err_msg=path)
    checked += 1
  assert checked >= 5


def test_self_attention_matches_numpy():
  x = np.random.default_rng(0).normal(size=(2, 3, 4, 16)).astype(np.float32)
  block = attention.SelfAttention(_options())
  params = block.init(jax.random.key(0), x, train=False)['params']
  params = dict(params, gamma=jnp.float32(0.7))
  conv = lambda name, y: y @ np.asarray(params[name]['kernel'][0, 0]) + np.asarray(
      params[name]['bias'])
  flat = x.reshape(2, 12, 16)
  f, g, h = conv('f', flat), conv('g', flat), conv('h', flat)
  expected = np.zeros_like(flat)
  for n in range(2):
    for j in range(12):
      scores = np.array([f[n, i] @ g[n, j] for i in range(12)])
      beta = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
      expected[n, j] = conv('v', (beta[:, None] * h[n]).sum(0))
  out = block.apply({'params': params}, x, train=False)
  np.testing.assert_allclose(out, x + 0.7 * expected.reshape(x.shape), rtol=1e-4, atol=1e-5)
  assert np.array_equal(block.apply({'params': dict(params, gamma=jnp.float32(0))}, x,
                                    train=False), x)


@pytest.mark.parametrize('norm', normalization.NORMS)
def test_every_generator_norm_gives_finite_images(norm):
  generator = resnet.Generator((8, 4, 4), 16, 3, _options(norm=norm))
  labels = jnp.array([0, 2])
  variables = generator.init(jax.random.key(0), jnp.ones((2, 5)), labels, train=False)
  images, _ = generator.apply(variables, jnp.ones((2, 5)), labels, train=True,
                              mutable=['batch_stats'])
  assert images.shape == (2, 16, 16, 3) and np.all(np.isfinite(images))


@pytest.mark.parametrize('norm', ['none', 'batch', 'layer'])
def test_every_discriminator_norm_gives_finite_logits(norm):
  discriminator = resnet.Discriminator((4, 4), (True, False), _options(norm=norm))
  images = jnp.ones((2, 8, 8, 3))
  variables = discriminator.init(jax.random.key(0), images, None, train=False)
  (logits, class_logits), _ = discriminator.apply(variables, images, None, train=True,
                                                  mutable=['batch_stats'])
  assert logits.shape == (2,) and class_logits is None and np.all(np.isfinite(logits))


def test_unknown_norm_and_misplaced_attention_are_explained():
  config = tiny_zoo_config('hinge_resnet', model__discriminator_norm='conditional_batch')
  with pytest.raises(ValueError, match='discriminator_norm'):
    families.make(config)
  config = tiny_zoo_config('hinge_resnet', model__attention_resolution=5, data__image_size=16)
  family = families.make(config)
  with pytest.raises(ValueError, match='attention_resolution'):
    family.generator.init(jax.random.key(0), jnp.ones((1, 8)), None, train=False)


def test_unconditional_dcgan_keeps_the_reference_parameter_names():
  family = families.make(tiny_zoo_config('dcgan'))
  variables = family.critic.module.init(jax.random.key(0), jnp.ones((1, 28, 28, 1)), None,
                                        train=False)
  assert sorted(variables['params']) == ['Conv_0', 'Conv_1', 'Dense_0']


ARCHITECTURE_CONFIGS = {'mlp': 'gan_mlp', 'dcgan': 'dcgan', 'sndcgan': 'sngan',
                        'resnet': 'hinge_resnet', 'biggan': 'biggan'}


def test_every_architecture_is_covered():
  assert set(ARCHITECTURE_CONFIGS) == set(gan.ARCHITECTURES)


def _routing_family(architecture, conditioning, generator_norm):
  overrides = {'model__conditioning': conditioning, 'data__image_size': 16}
  if architecture != 'dcgan':
    overrides['model__generator_norm'] = generator_norm
  return families.make(tiny_zoo_config(ARCHITECTURE_CONFIGS[architecture], **overrides))


@pytest.mark.parametrize('architecture', sorted(gan.ARCHITECTURES))
def test_label_routing(architecture):
  """Changing example 0's label changes only example 0's image and D output (projection), and
  never the auxiliary classifier's outputs (AC-GAN's D does not see the label)."""
  norm = 'batch' if architecture in ('mlp', 'dcgan') else 'conditional_batch'
  family = _routing_family(architecture, 'projection', norm)
  z = jax.random.normal(jax.random.key(0), (4, 8))
  labels, changed = jnp.array([1, 2, 3, 4]), jnp.array([7, 2, 3, 4])
  state = family.init(jax.random.key(0),
                      {'image': np.zeros((1, 16, 16, 1), np.uint8), 'label': None})
  # Perturb every weight: at init conditional batch norm's class scales and shifts are all equal.
  noise = jax.tree.map(lambda p: 0.1 * jax.random.normal(jax.random.key(2), p.shape),
                       state.generator.ema_params)
  generator = state.generator.replace(
      ema_params=jax.tree.map(jnp.add, state.generator.ema_params, noise))
  state = state.replace(networks={**state.networks, 'generator': generator})
  generate = jax.jit(family.generate)
  images = np.asarray(generate(state, z, labels))
  images_changed = np.asarray(generate(state, z, changed))
  assert not np.allclose(images[0], images_changed[0])
  np.testing.assert_array_equal(images[1:], images_changed[1:])

  @functools.partial(jax.jit, static_argnums=0)
  def discriminate(fam, d_state, labels_):
    variables = d_state.discriminator.variables()
    return fam.critic.module.apply(variables, jnp.asarray(images), labels_, train=False)

  logits, _ = discriminate(family, state, labels)
  logits_changed, _ = discriminate(family, state, changed)
  assert logits[0] != logits_changed[0]
  np.testing.assert_array_equal(logits[1:], logits_changed[1:])

  auxiliary = _routing_family(architecture, 'auxiliary', norm)
  aux_state = auxiliary.init(jax.random.key(0),
                             {'image': np.zeros((1, 16, 16, 1), np.uint8), 'label': None})
  (aux_logits, class_logits), (aux_changed, class_changed) = (
      discriminate(auxiliary, aux_state, labels), discriminate(auxiliary, aux_state, changed))
  assert class_logits.shape == (4, 10)
  np.testing.assert_array_equal(aux_logits, aux_changed)
  np.testing.assert_array_equal(class_logits, class_changed)
