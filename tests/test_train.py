"""Trainer behaviour: multi-device equivalence, resume equality, failure handling."""
import os

import jax
import numpy as np
import pytest

from conftest import final_state as _final_params
from conftest import DCGAN_CONFIG, run_compiled_steps, shrunk_config, tiny_dcgan_config
from jaxgan import config_lib
from jaxgan.data import sources as data
from jaxgan import families
from jaxgan.families import base
from jaxgan.training import checkpoints
from jaxgan.training import mesh as mesh_lib
from jaxgan.training import trainer as train


def _run_steps(config, devices, num_steps):
  """(per-step metrics, final state on the host, step_fn) of the trainer's compiled step."""
  state, history, step_fn = run_compiled_steps(config, num_steps, devices)
  return history, jax.device_get(state), step_fn


@pytest.mark.slow
def test_one_and_four_devices_give_the_same_losses_and_parameters():
  assert len(jax.devices()) == 4
  config = tiny_dcgan_config()
  one_history, one_state, _ = _run_steps(config, jax.devices()[:1], 10)
  four_history, four_state, _ = _run_steps(config, jax.devices(), 10)
  for one, four in zip(one_history, four_history):
    for name in ('discriminator_loss', 'generator_loss', 'discriminator_real'):
      np.testing.assert_allclose(four[name], one[name], rtol=1e-4, atol=1e-6)
  for one, four in zip(jax.tree.leaves(one_state), jax.tree.leaves(four_state)):
    np.testing.assert_allclose(four, one, rtol=1e-4, atol=1e-5)
  assert int(four_state.step) == 10


def test_default_dcgan_step_is_traced_and_compiled_once_at_full_size():
  """The full-size reference DCGAN (batch 64 of real data, one device) over several steps: the
  state, sums and batches each step returns or yields have the avals and shardings the compiled
  step was built for, so it never retraces or recompiles."""
  config = config_lib.load_config(DCGAN_CONFIG)
  assert config.train.batch_size == 64 and config.model.generator_widths == (256, 128, 64)
  mesh = mesh_lib.make_mesh(jax.devices()[:1])
  family = families.make(config)
  state = families.init_state(family, mesh)
  names = train.metric_names(family, state, base.phases(family)[0])
  traces = []
  train_step = family.train_step

  def counted_train_step(*args):
    traces.append(len(traces))
    return train_step(*args)

  family.train_step = counted_train_step
  step_fn = train.jit_train_step(family, mesh)
  key = mesh_lib.replicate(families.root_keys(config.seed)['train'], mesh)
  batches = data.device_batches(data.open_source(config.data, 'train'), 64, config.seed, 0,
                                mesh_lib.data_sharding(mesh))
  sums = train.zero_metric_sums(names, mesh)
  for _ in range(3):
    state, sums = step_fn(state, sums, next(batches), key)
  batches.close()
  assert int(jax.device_get(sums['num_steps'])) == 3
  assert len(traces) == 1
  assert step_fn._cache_size() == 1  # pylint: disable=protected-access


@pytest.fixture
def trained_workdir(trained_run):
  """The 10-step tiny DCGAN run (checkpoints 5 and 10) the session shares."""
  return trained_run(tiny_dcgan_config())


@pytest.fixture
def trained_copy(trained_run, tmp_path):
  """A private copy of the trained run, for a test that changes or damages it."""
  return trained_run(tiny_dcgan_config(), copy_to=str(tmp_path / 'run'))


def test_writes_checkpoints_samples_events_and_config(trained_workdir):
  workdir = trained_workdir
  assert sorted(os.listdir(os.path.join(workdir, 'checkpoints'))) == ['10', '5']
  assert sorted(os.listdir(os.path.join(workdir, 'samples'))) == [
      'step_0000005.png', 'step_0000010.png']
  assert any(name.startswith('events.out.tfevents') for name in os.listdir(workdir))
  assert os.path.exists(os.path.join(workdir, 'config.json'))


def _snapshot(directory):
  return {os.path.join(root, name): os.path.getsize(os.path.join(root, name))
          for root, _, names in os.walk(directory) for name in names}


def test_corrupt_latest_checkpoint_is_an_error_naming_it(trained_copy, tiny_config):
  workdir = trained_copy
  latest = os.path.join(workdir, 'checkpoints', '10')
  for root, _, names in os.walk(os.path.join(latest, 'state')):
    for name in names:
      with open(os.path.join(root, name), 'wb') as f:
        f.write(b'garbage')
  before = _snapshot(os.path.join(workdir, 'checkpoints'))
  tiny_config.train.num_steps = 15
  with pytest.raises(checkpoints.CheckpointError, match=f'{latest} cannot be read'):
    train.train_and_evaluate(tiny_config, workdir)
  assert _snapshot(os.path.join(workdir, 'checkpoints')) == before


def test_checkpoint_from_another_model_is_refused(trained_copy):
  workdir = trained_copy
  before = _snapshot(os.path.join(workdir, 'checkpoints'))
  other = tiny_dcgan_config(model__generator_widths=(32, 8, 4), train__num_steps=15)
  with pytest.raises(checkpoints.CheckpointError, match='different model.*generator_widths'):
    train.train_and_evaluate(other, workdir)
  assert _snapshot(os.path.join(workdir, 'checkpoints')) == before


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
  # A huge learning rate, warmed up from 0, blows the parameters up after the first updates.
  config = tiny_dcgan_config(train__num_steps=30, train__log_every=1, train__checkpoint_every=1,
                             optim__generator__learning_rate=1e30,
                             optim__discriminator__learning_rate=1e30,
                             optim__generator__warmup_steps=20,
                             optim__discriminator__warmup_steps=20)
  workdir = str(tmp_path)
  with pytest.raises(train.NonFiniteLossError, match='NaN or Inf at step') as error:
    train.train_and_evaluate(config, workdir)
  saved = sorted(int(s) for s in os.listdir(os.path.join(workdir, 'checkpoints'))
                 if s.isdigit())
  assert saved and saved[-1] < 30
  assert f'last good checkpoint is {workdir}/checkpoints/{saved[-1]}' in str(error.value)
  state = _final_params(workdir, config)
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(state)
             if np.issubdtype(np.asarray(x).dtype, np.floating))


def test_a_run_refused_by_its_checkpoint_changes_nothing_in_the_workdir(trained_copy):
  workdir = trained_copy
  with open(os.path.join(workdir, 'config.json')) as f:
    config_json = f.read()
  before = _snapshot(workdir)
  vae = shrunk_config('vae.py', {'train.num_steps': 5, 'eval.every_steps': 0})
  with pytest.raises(checkpoints.CheckpointError,
                     match=r"different model \(family: checkpoint 'gan' vs config 'vae'\)"):
    train.train_and_evaluate(vae, workdir)
  assert _snapshot(workdir) == before  # no config.json.1, no new events file
  with open(os.path.join(workdir, 'config.json')) as f:
    assert f.read() == config_json
