"""The GAN family's axes in a train step: n_critic, weight clipping, lazy penalties, mixed
precision, DiffAugment, spectral-norm state (also across devices) and per-class samples."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import families
from jaxgan.families import base
from jaxgan.families import gan
from jaxgan.training import mesh as mesh_lib
from jaxgan.training import trainer as train
from zoo_testing import tiny_zoo_config


def _batch(config, seed=0):
  rng = np.random.default_rng(seed)
  num, size = config.train.batch_size, config.data.image_size
  return {'image': rng.integers(0, 256, (num, size, size, 1), dtype=np.uint8),
          'label': rng.integers(0, 10, (num,), dtype=np.int32)}


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


def _images_seen_by_discriminator(config, batch):
  """{batch size: images} of every top-level call of D in one compiled train step."""
  family = families.make(config)
  state = jax.jit(family.init)(jax.random.key(0), batch)
  seen = {}

  def record(images):
    seen[images.shape[0]] = np.asarray(images)

  def spy(next_fun, args, kwargs, context):
    if type(context.module) is type(family.critic.module) and context.method_name == '__call__':
      jax.debug.callback(record, args[0])
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(spy):
    jax.block_until_ready(jax.jit(family.train_step)(state, batch, jax.random.key(1)))
  jax.effects_barrier()
  return seen


def _zeroed_rectangle(image):
  """(height, width) of the all-zero pixels of `image` [H, W, C], asserting they form one
  axis-aligned rectangle (a cutout); (0, 0) when no pixel is zero."""
  zero = np.all(image == 0, axis=-1)
  rows, cols = np.flatnonzero(zero.any(axis=1)), np.flatnonzero(zero.any(axis=0))
  rectangle = np.zeros_like(zero)
  if rows.size:
    rectangle[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] = True
  np.testing.assert_array_equal(zero, rectangle)
  return rows.size, cols.size


def test_discriminator_sees_augmented_real_and_fake_images_in_both_updates():
  # Cutout zeroes a half-side square centred anywhere on the image (DiffAugment), so on 16 x 16
  # images D must see a zero rectangle of 4 to 8 pixels a side in every image: the all-white
  # real ones and G's tanh outputs (never exactly zero) in D's update, and the fakes in G's.
  config = tiny_zoo_config('dcgan', data__image_size=16, gan__augment='cutout')
  num = config.train.batch_size
  batch = {'image': np.full((num, 16, 16, 1), 255, np.uint8), 'label': np.zeros(num, np.int32)}
  seen = _images_seen_by_discriminator(config, batch)
  assert sorted(seen) == [num, 2 * num]  # G's update, then D's on concat(real, fake)
  d_real, d_fake, g_fake = seen[2 * num][:num], seen[2 * num][num:], seen[num]
  for image in np.concatenate([d_real, d_fake, g_fake]):
    height, width = _zeroed_rectangle(image)
    assert 4 <= height <= 8 and 4 <= width <= 8
  # Outside the cutout the real images are unchanged.
  np.testing.assert_allclose(d_real[np.any(d_real != 0, axis=-1)], 1.0, rtol=1e-6)


@pytest.mark.slow
def test_bfloat16_computes_in_bf16_and_keeps_float32_state():
  config = tiny_zoo_config('sagan', model__compute_dtype='bfloat16', data__image_size=16,
                           model__attention_resolution=8)
  family, state, states, metrics = _steps(config, 1)
  raw = jax.jit(lambda variables: family.generator.apply(
      variables, jnp.ones((2, 8)), jnp.arange(2), train=False))(state.generator.variables())
  assert raw.dtype == jnp.bfloat16
  for leaf in jax.tree.leaves(states[-1]):
    assert leaf.dtype in (jnp.float32, jnp.int32), leaf.dtype
  assert all(np.isfinite(v) for m in metrics for v in m.values())
  samples = jax.jit(family.sample, static_argnums=2)(states[-1], jax.random.key(0), 4)
  assert samples.dtype == jnp.float32


@pytest.mark.slow
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


def _perturb_class_embeddings(state, seed=0):
  """Moves every per-class scale (init 1) and shift (init 0) of conditional batch norm away
  from its init, wherever G's parameters sit in the state: at init the labels cannot matter."""
  rng = np.random.default_rng(seed)
  perturbed = []

  def perturb(path, leaf):
    name = jax.tree_util.keystr(path)
    if "'embedding'" in name and ("'scale'" in name or "'shift'" in name):
      perturbed.append(name)
      return leaf + rng.normal(0.0, 0.5, leaf.shape).astype(leaf.dtype)
    return leaf

  state = jax.tree_util.tree_map_with_path(perturb, state)
  assert perturbed
  return state


def test_labels_change_conditional_samples_and_sample_comes_in_class_rows():
  np.testing.assert_array_equal(gan.balanced_labels(100, 10), np.repeat(np.arange(10), 10))
  config = tiny_zoo_config('cgan', data__image_size=16)
  family, initial, _, _ = _steps(config, 0)
  generate = jax.jit(family.generate)
  z = jax.random.normal(jax.random.key(5), (4, config.model.latent_dim))

  def per_class(state):  # [class, example, H, W, C]: the same 4 latents under each label
    return np.stack([generate(state, z, jnp.full((4,), k)) for k in range(10)])

  at_init = per_class(initial)
  np.testing.assert_allclose(at_init, np.broadcast_to(at_init[:1], at_init.shape), atol=1e-6)
  state = _perturb_class_embeddings(initial)
  images = per_class(state)
  for a in range(10):
    for b in range(a):
      differences = np.abs(images[a] - images[b]).reshape(4, -1).max(axis=1)
      assert np.all(differences > 1e-3), (a, b, differences)

  rng = jax.random.key(3)
  samples = jax.jit(family.sample, static_argnums=2)(state, rng, 100)
  z = jax.random.normal(rng, (100, config.model.latent_dim))
  for k in range(10):  # class k fills rows 10k .. 10k + 9
    np.testing.assert_allclose(samples[10 * k:10 * k + 10],
                               generate(state, z[10 * k:10 * k + 10], jnp.full((10,), k)),
                               atol=1e-5)
  shifted = generate(state, z, (jnp.repeat(jnp.arange(10), 10) + 1) % 10)
  assert np.abs(samples - shifted).max() > 1e-3


@pytest.mark.parametrize('overrides, match', [
    ({'gan__n_critic': 3}, 'n_critic'),
    ({'gan__penalty_interval': 0}, 'penalty_interval'),
    ({'model__compute_dtype': 'float16'}, 'compute_dtype'),
    ({'model__conditioning': 'concat'}, 'conditioning'),
    ({'model__name': 'stylegan'}, 'model.name'),
    ({'gan__augment': 'flip'}, 'augment'),
])
def test_bad_axis_values_are_explained(overrides, match):
  with pytest.raises(ValueError, match=match):
    families.make(tiny_zoo_config('dcgan', **overrides))
