"""The GAN family's axes in a train step: n_critic, weight clipping, lazy penalties, mixed
precision, DiffAugment, spectral-norm state (also across devices) and per-class samples."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import mesh as mesh_lib
from jaxgan import families
from jaxgan import train
from jaxgan.families import base
from jaxgan.families import gan
from zoo_testing import tiny_zoo_config


def _batch(config, seed=0):
  rng = np.random.default_rng(seed)
  num, size = config.train.batch_size, config.data.image_size
  return {'image': rng.integers(0, 256, (num, size, size, 1), dtype=np.uint8), 'label': rng.integers(0, 10, (num,), dtype=np.int32)}


def _steps(config, num_steps):
  """(family, initial state, [state after each step], [metrics of each step]) on one device."""
  family = families.make(config)
  state = jax.jit(family.init)(jax.random.key(0), _batch(config))
  step = jax.jit(family.train_step)
  states, metrics = [], []
  current = state
  for index in range(num_steps):
    current, step_metrics = step(current, _batch(config, index), jax.random.key(index))
    states.append(current)
    metrics.append(jax.device_get(step_metrics))
  return family, state, states, metrics


def _counts(opt_state):
  return [int(leaf) for path, leaf in jax.tree_util.tree_leaves_with_path(opt_state)
          if 'count' in jax.tree_util.keystr(path)]


def test_n_critic_updates_and_weight_clipping():
  # configs/wgan.py with Adam instead of RMSProp, whose state counts the updates.
  config = tiny_zoo_config('wgan', data__image_size=16, optim__discriminator__name='adam',
                           optim__generator__name='adam')
  assert config.gan.n_critic == 5 and config.train.batch_size == 40
  _, _, states, _ = _steps(config, 1)
  assert set(_counts(states[0].discriminator.opt_state)) == {5}
  assert set(_counts(states[0].generator.opt_state)) == {1}
  for leaf in jax.tree.leaves(states[0].discriminator.params):
    assert np.max(np.abs(leaf)) <= 0.01 + 1e-7


def test_lazy_r1_with_diff_augment():
  """R1 every 2nd D update (scaled by 2), zero in between; DiffAugment trains finitely."""
  config = tiny_zoo_config('dcgan', data__image_size=16, gan__penalty='r1',
                           gan__penalty_weight=1.0, gan__penalty_interval=2,
                           gan__augment='color,translation,cutout')
  _, _, _, metrics = _steps(config, 3)
  penalties = [m['discriminator_penalty'] for m in metrics]
  assert penalties[0] > 0 and penalties[1] == 0 and penalties[2] > 0
  assert all(np.isfinite(v) for m in metrics for v in m.values())


def test_bfloat16_computes_in_bf16_and_keeps_float32_state():
  config = tiny_zoo_config('sagan', model__compute_dtype='bfloat16', data__image_size=16,
                           model__attention_resolution=8)
  family, state, states, metrics = _steps(config, 1)
  raw = family.generator.apply(
      state.generator.variables(), jnp.ones((2, 8)), jnp.arange(2), train=False)
  assert raw.dtype == jnp.bfloat16
  for leaf in jax.tree.leaves(states[-1]):
    assert leaf.dtype in (jnp.float32, jnp.int32), leaf.dtype
  assert all(np.isfinite(v) for m in metrics for v in m.values())
  assert family.sample(states[-1], jax.random.key(0), 4).dtype == jnp.float32


def test_spectral_vectors_are_trained_state_and_identical_on_one_and_four_devices():
  config = tiny_zoo_config('sngan', data__image_size=16)
  results = []
  for devices in (jax.devices()[:1], jax.devices()):
    mesh = mesh_lib.make_mesh(devices)
    family = families.make(config)
    state = families.init_state(family, mesh)
    initial = jax.device_get(state.discriminator.collections['spectral'])
    step = train.jit_train_step(family, mesh)
    phase = base.phases(family)[0]
    sums = train.zero_metric_sums(train.metric_names(family, state, phase), mesh)
    batch = jax.device_put(_batch(config), mesh_lib.data_sharding(mesh))
    key = mesh_lib.replicate(jax.random.key(0), mesh)
    for _ in range(2):
      state, sums = step(state, sums, batch, key)
    results.append(jax.device_get(state))
  one, four = results
  changed = jax.tree.map(lambda a, b: not np.allclose(a, b), initial, one.discriminator.collections['spectral'])
  assert all(jax.tree.leaves(changed))
  # D's state only: G's biases before batch norm have a zero gradient up to rounding, which
  # Adam turns into device-count-dependent steps (harmless: batch norm removes them).
  for name in ('collections', 'params'):
    for a, b in zip(jax.tree.leaves(getattr(one.discriminator, name)),
                    jax.tree.leaves(getattr(four.discriminator, name))):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=name)


def test_conditional_samples_come_in_class_rows():
  np.testing.assert_array_equal(gan.balanced_labels(100, 10), np.repeat(np.arange(10), 10))
  config = tiny_zoo_config('cgan', data__image_size=16)
  family, state, _, _ = _steps(config, 0)
  rng = jax.random.key(3)
  z = jax.random.normal(rng, (100, config.model.latent_dim))
  sample = jax.jit(family.sample, static_argnums=2)
  np.testing.assert_array_equal(sample(state, rng, 100), jax.jit(family.generate)(
      state, z, jnp.repeat(jnp.arange(10), 10)))


@pytest.mark.parametrize('overrides, match', [
    ({'gan__n_critic': 3}, 'n_critic'),
    ({'gan__penalty_interval': 0}, 'penalty_interval'),
    ({'model__compute_dtype': 'float16'}, 'compute_dtype'),
    ({'model__conditioning': 'concat'}, 'conditioning'),
    ({'model__name': 'biggan'}, 'model.name'),
    ({'gan__augment': 'flip'}, 'augment'),
])
def test_bad_axis_values_are_explained(overrides, match):
  with pytest.raises(ValueError, match=match):
    families.make(tiny_zoo_config('dcgan', **overrides))
