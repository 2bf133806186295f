"""The ProGAN family (configs/progan.py): phases, fade-in schedule, real-image fading, the drift
term, optimizer resets, sampling at the current level, and a run killed mid-fade resuming
bitwise with one compile per phase."""
import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import CompileCounter
from conftest import final_state
from conftest import run_compiled_steps
from conftest import shrunk_config
from jaxgan.adversarial import losses
from jaxgan.adversarial import penalties
from jaxgan.adversarial import updates as adversarial
from jaxgan import config_lib
from jaxgan.data import sources as data
from jaxgan.evaluation import results as results_lib
from jaxgan import families
from jaxgan.families import progan
from jaxgan.models import progan as networks
from jaxgan.training.mesh import make_mesh
from jaxgan.training import trainer as train

# configs/progan.py on sklearn's digits at 8x8: two phases (4x4, 8x8) of 6 updates each, the fade
# over updates 7..9 (alpha 1/3, 2/3, 1).
TINY_PROGAN = {
    'data.name': 'sklearn_digits',
    'data.image_size': 8,
    'data.pad': False,
    'data.resize': True,  # its 28x28 frames to 8x8
    'progan.resolutions': (4, 8),
    'progan.steps_per_phase': 6,
    'model.features': (8, 8),
    'model.latent_dim': 8,
    'train.num_steps': 12,
    'train.batch_size': 8,
    'train.log_every': 100,
    'train.checkpoint_every': 100,  # the trainer also saves at each phase's end and the last step
    'train.keep_checkpoints': 20,
    'train.sample_every': 100,
    'train.num_sample_images': 4,
    'eval.every_steps': 0,
}


def tiny_progan_config(**overrides):
  return shrunk_config('progan.py', TINY_PROGAN, **overrides)


def test_config_schedule_follows_steps_per_phase_and_presets():
  config = config_lib.load_config(os.path.join(os.path.dirname(__file__), '..', 'configs',
                                               'progan.py'))
  assert config.train.num_steps == 4 * config.progan.steps_per_phase
  config.progan.steps_per_phase = 10
  assert config.train.num_steps == 40 and config.eval.every_steps == 10
  family = families.make(config)
  assert [(p.name, p.num_steps, p.image_size) for p in family.phases()] == [
      ('4x4', 10, 4), ('8x8', 10, 8), ('16x16', 10, 16), ('32x32', 10, 32)]
  celeb = shrunk_config('progan.py', {}, 'celeb_a')
  assert celeb.progan.resolutions[-1] == celeb.data.image_size == 64
  with pytest.raises(config_lib.ConfigError, match="Unknown progan preset 'svhn'"):
    shrunk_config('progan.py', {}, 'svhn')


def test_a_shorter_growth_is_one_override():
  """image_size, features and num_steps follow progan.resolutions; the 16x16 data are the full
  schedule's 16x16 phase (MNIST padded to 32x32, then halved)."""
  full = shrunk_config('progan.py', {'model.max_features': 8})
  short = shrunk_config('progan.py', {'model.max_features': 8, 'progan.resolutions': (4, 8, 16)})
  assert short.data.image_size == 16 and short.train.num_steps == 3 * short.progan.steps_per_phase
  assert tuple(short.model.features) == (8, 8, 8) and tuple(full.model.features) == (8, 8, 8, 8)
  family = families.make(short)
  assert [p.image_size for p in family.phases()] == [4, 8, 16]
  key = jax.random.key(0)
  state = jax.eval_shape(family.init, key, family.example_batch(family.phases()[-1]))
  assert jax.eval_shape(lambda s, k: family.sample(s, k, 2), state, key).shape == (2, 16, 16, 1)
  indices = np.arange(5)
  np.testing.assert_array_equal(data.open_source(short.data, 'train').get(indices)['image'],
                                data.open_source(full.data, 'train', 16).get(indices)['image'])
  assert tuple(shrunk_config('progan.py', {}, 'celeb_a').model.features) == (128,) * 4 + (64,)


def test_fields_set_apart_from_the_resolutions_are_named_in_one_error():
  config = shrunk_config('progan.py', {'progan.resolutions': (4, 8, 16), 'data.image_size': 32,
                                       'model.features': (8, 8, 8, 8), 'train.num_steps': 4000})
  with pytest.raises(config_lib.ConfigError) as error:
    families.make(config)
  message = str(error.value)
  for fix in ('config.data.image_size=32 -> 16', 'config.model.features=(8, 8, 8, 8) -> one '
              'width per resolution', 'config.train.num_steps=4000 -> at most 3000'):
    assert fix in message
  assert '\n' not in message


@pytest.mark.parametrize('field, value, message', [
    ('progan.resolutions', (4, 8, 32), 'must double from 4'),
    ('data.image_size', 16, 'config.data.image_size=16 -> 32'),
    ('model.features', (8, 8, 8), 'one width per resolution'),
    ('progan.batch_sizes', (8, 8), 'one batch size per resolution'),
    ('progan.batch_sizes', (8, 8, 6, 8), 'multiple of config.model.minibatch_group_size=4'),
    ('progan.fade_fraction', 1.5, 'must be in \\[0, 1\\]'),
])
def test_bad_config_is_one_clear_error(field, value, message):
  config = shrunk_config('progan.py', {field: value})
  with pytest.raises(config_lib.ConfigError, match=message):
    families.make(config)


def test_phases_batch_sizes_and_the_non_progressive_baseline():
  config = tiny_progan_config(progan__batch_sizes=(16, 8))
  family = families.make(config)
  assert [(p.num_steps, p.batch_size, p.image_size) for p in family.phases()] == [
      (6, 16, 4), (6, 8, 8)]
  assert family.starts == (0, 6)
  baseline = families.make(tiny_progan_config(progan__progressive=False))
  assert [(p.num_steps, p.batch_size, p.image_size) for p in baseline.phases()] == [(12, 8, 8)]
  assert baseline.fingerprint() != family.fingerprint()
  _, history, _ = run_compiled_steps(tiny_progan_config(progan__progressive=False), 2)
  assert all(np.isfinite(h['generator_loss']) and h['resolution'] == 8 for h in history)


def test_alpha_ramps_over_the_first_half_of_each_later_phase():
  family = families.make(tiny_progan_config())
  assert family.alpha(0, 1) is None  # level 0: nothing fades
  np.testing.assert_allclose([float(family.alpha(1, u)) for u in range(7, 13)],
                             [1 / 3, 2 / 3, 1, 1, 1, 1], rtol=1e-6)
  no_fade = families.make(tiny_progan_config(progan__fade_fraction=0.0))
  assert no_fade.alpha(1, 7) is None
  assert [int(family.level_after(jnp.asarray(s))) for s in (0, 1, 6, 7, 12)] == [0, 0, 0, 1, 1]


def test_fade_reals_blends_the_coarsened_batch_with_the_batch():
  images = jax.random.uniform(jax.random.key(0), (2, 8, 8, 3), minval=-1, maxval=1)
  blocks = np.asarray(images).reshape(2, 4, 2, 4, 2, 3).mean(axis=(2, 4))
  coarse = np.repeat(np.repeat(blocks, 2, axis=1), 2, axis=2)
  np.testing.assert_allclose(progan.fade_reals(images, 0.0), coarse, atol=1e-6)
  np.testing.assert_allclose(progan.fade_reals(images, 1.0), images, atol=1e-6)
  np.testing.assert_allclose(progan.fade_reals(images, 0.25), 0.75 * coarse + 0.25 * images,
                             atol=1e-6)


def test_mirror_augment_flips_about_half_the_reals_d_sees(monkeypatch):
  images = jax.random.uniform(jax.random.key(0), (2000, 4, 4, 1))
  mirrored = np.asarray(progan.mirror(images, jax.random.key(1)))
  flipped = np.all(mirrored == np.asarray(images)[:, :, ::-1], axis=(1, 2, 3))
  kept = np.all(mirrored == np.asarray(images), axis=(1, 2, 3))
  assert np.all(flipped ^ kept) and 900 < flipped.sum() < 1100
  # The step mirrors the real batch (and nothing else) when asked: traced, not compiled.
  calls = []
  monkeypatch.setattr(progan, 'mirror', lambda x, key: calls.append(x.shape) or x[:, :, ::-1])
  for mirror_augment, expected in ((False, []), (True, [(8, 4, 4, 1)])):
    calls.clear()
    family = families.make(tiny_progan_config(progan__mirror_augment=mirror_augment))
    batch = family.example_batch(family.phases()[0])
    state = jax.eval_shape(family.init, jax.random.key(0), batch)
    jax.eval_shape(family.train_step, state, batch, jax.random.key(5))
    assert calls == expected


def test_phase_batches_are_the_padded_images_box_filtered():
  config = shrunk_config('progan.py', {})  # mnist_5k, 28x28 padded to 32x32
  full = data.open_source(config.data, 'train').get(np.arange(3))['image']
  assert full.shape == (3, 32, 32, 1) and not full[:, :2].any()  # the zero padding
  for size in (16, 8, 4):
    f = 32 // size
    expected = np.rint(full.reshape(3, size, f, size, f, 1).astype(np.float64).mean(axis=(2, 4)))
    got = data.open_source(config.data, 'train', size).get(np.arange(3))
    np.testing.assert_array_equal(got['image'], expected.astype(np.uint8))
    assert got['image'].shape == (3, size, size, 1)
  with pytest.raises(config_lib.ConfigError, match='does not divide'):
    data.open_source(config.data, 'train', 12)


def test_drift_term_adds_epsilon_times_squared_real_scores_to_the_penalty():
  class Linear:  # D(x) = sum(x * w): logits [N]
    def apply(self, variables, images, condition, train, rngs=None, mutable=()):
      del condition, train, rngs, mutable
      return (jnp.sum(images * variables['params']['w'], axis=(1, 2, 3)), None), {}

  from jaxgan.training.state import NetworkState  # pylint: disable=g-import-not-at-top
  import optax  # pylint: disable=g-import-not-at-top
  real = jax.random.normal(jax.random.key(1), (4, 2, 2, 1))
  fake = jax.random.normal(jax.random.key(2), (4, 2, 2, 1))
  w = jax.random.normal(jax.random.key(3), (2, 2, 1))
  d = NetworkState.create({'params': {'w': w}}, optax.sgd(0.0), ema=False)
  config = shrunk_config('progan.py', {'gan.penalty': 'none'})
  critic = adversarial.Critic(module=Linear(), optimizer=optax.sgd(0.0),
                              loss=losses.get('wasserstein'), regularizer=penalties.get(config.gan),
                              drift_weight=1e-3, mutable=())
  _, metrics = adversarial.discriminator_update(critic, d, adversarial.Scored(real),
                                                adversarial.Scored(fake), jax.random.key(0))
  real_scores = np.sum(np.asarray(real) * np.asarray(w), axis=(1, 2, 3))
  fake_scores = np.sum(np.asarray(fake) * np.asarray(w), axis=(1, 2, 3))
  np.testing.assert_allclose(metrics['discriminator_penalty'], 1e-3 * np.mean(real_scores ** 2),
                             rtol=1e-5)
  np.testing.assert_allclose(metrics['discriminator_loss'],
                             fake_scores.mean() - real_scores.mean(), rtol=1e-5)


@pytest.mark.slow
def test_killed_mid_fade_resumes_bitwise_and_compiles_once_per_phase(tmp_path):
  config = tiny_progan_config(train__checkpoint_every=7)  # saves 6 (phase end), 7 and 12
  with CompileCounter() as counter:
    train.train_and_evaluate(config, str(tmp_path / 'straight'))
  assert counter.count == 2  # one per phase
  shutil.copytree(tmp_path / 'straight', tmp_path / 'resumed')
  # killed after update 7, alpha = 1/3 into the fade
  shutil.rmtree(tmp_path / 'resumed' / 'checkpoints' / '12')
  assert sorted(os.listdir(tmp_path / 'resumed' / 'checkpoints')) == ['6', '7']
  train.train_and_evaluate(config, str(tmp_path / 'resumed'))
  straight = final_state(str(tmp_path / 'straight'), config)
  resumed = final_state(str(tmp_path / 'resumed'), config)
  assert int(straight.step) == int(resumed.step) == 12
  for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed)):
    np.testing.assert_array_equal(a, b)
  # Fresh Adam moments at the new resolution: the optimizers have counted phase 1 only.
  counts = [leaf for leaf in jax.tree.leaves(straight.generator.opt_state)
            if np.asarray(leaf).dtype == np.int32]
  assert counts and all(int(c) == 6 for c in counts)
  # Phase-end sample grids, at the final size.
  samples = sorted(os.listdir(tmp_path / 'straight' / 'samples'))
  assert samples == ['step_0000006.png', 'step_0000012.png']


@pytest.mark.slow
def test_samples_show_the_current_level_and_phase_ends_are_evaluated(tmp_path):
  config = tiny_progan_config(
      train__num_steps=8, eval__every_steps=100, eval__sample_quality__metrics=('fid',),
      eval__sample_quality__num_samples=16, eval__sample_quality__reference_count=16,
      eval__sample_quality__batch_size=8)
  state = train.train_and_evaluate(config, str(tmp_path))
  family = families.make(config)
  entries = results_lib.read_results(str(tmp_path))
  assert sorted(entries) == [6, 8]  # the end of phase 0 and the last step
  assert entries[6]['phase'] == {'index': 0, 'name': '4x4', 'image_size': 4}
  assert entries[8]['phase'] == {'index': 1, 'name': '8x8', 'image_size': 8}
  assert np.isfinite(entries[6]['metrics']['fid'])
  assert entries[6]['seconds'] > 0  # what experiments/progan.py subtracts from training time

  at_6 = final_state_at(str(tmp_path), config, 6)
  sample = jax.jit(family.sample, static_argnums=2)
  images = np.asarray(sample(at_6, jax.random.key(0), 4))
  assert images.shape == (4, 8, 8, 1)
  blocks = images.reshape(4, 4, 2, 4, 2, 1)
  np.testing.assert_array_equal(blocks, np.broadcast_to(blocks[:, :, :1, :, :1], blocks.shape))
  # After two fade-in updates (alpha 2/3), the 8x8 block contributes: not 2x2-constant.
  images = np.asarray(sample(jax.device_get(state), jax.random.key(0), 4))
  blocks = images.reshape(4, 4, 2, 4, 2, 1)
  assert np.abs(blocks - blocks[:, :, :1, :, :1]).max() > 1e-4
  expected = networks.upsample_nearest(jax.jit(family.generator.apply, static_argnums=2)(
      {'params': state.generator.ema_params}, jax.random.normal(jax.random.key(0), (4, 8)),
      1, family.alpha(1, 8)), 1)
  np.testing.assert_allclose(images, np.clip(expected, -1, 1), atol=1e-6)


def final_state_at(workdir: str, config, step: int):
  """The state of checkpoint `step` in `workdir`, on the host."""
  from jaxgan.training import checkpoints  # pylint: disable=g-import-not-at-top
  family = families.make(config)
  checkpointer = checkpoints.Checkpointer(os.path.join(workdir, 'checkpoints'),
                                          family.fingerprint(), 20)
  state, _ = checkpointer.restore(families.init_state(family, make_mesh()), step=step)
  checkpointer.close()
  return jax.device_get(state)


def test_results_record_the_phase(tmp_path):
  results_lib.record_results(str(tmp_path), 3, {'fid': 1.0}, {}, 'train',
                             phase={'index': 1, 'name': '8x8', 'image_size': 8})
  with open(results_lib.results_path(str(tmp_path))) as f:
    assert json.load(f)['3']['phase']['name'] == '8x8'


def test_a_changed_growth_schedule_is_refused_on_resume(tmp_path):
  from jaxgan.training import checkpoints  # pylint: disable=g-import-not-at-top
  config = tiny_progan_config(train__num_steps=8, progan__steps_per_phase=4)
  train.train_and_evaluate(config, str(tmp_path))
  # 5-step phases: step 8 is still phase 1 at the same data position, yet the fade differs.
  config = tiny_progan_config(train__num_steps=10, progan__steps_per_phase=5)
  with pytest.raises(checkpoints.CheckpointError, match='schedule'):
    train.train_and_evaluate(config, str(tmp_path))
