"""Reading a training directory (jaxgan/inference/runs.py): its config, family and checkpoints,
checked against what the trainer wrote for the tiny run the session shares."""
import json
import os
import shutil

import jax
import numpy as np
import pytest

from conftest import final_state
from conftest import tiny_dcgan_config
from jaxgan import families
from jaxgan.inference import runs
from jaxgan.training import checkpoints


@pytest.fixture
def trained(trained_run):
  """(workdir, config, final state on the host) of 10 tiny DCGAN steps, checkpoints at 5, 10."""
  config = tiny_dcgan_config()
  workdir = trained_run(config)
  return workdir, config, final_state(workdir, config)


def _as_stored(config):
  """The config as JSON keeps it (tuples become lists)."""
  return json.loads(config.to_json())


def _assert_same_tree(a, b):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(x, y)


def _differs(a, b):
  return any(not np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_load_config_returns_the_training_config(trained):
  workdir, config, _ = trained
  assert runs.load_config(workdir).to_dict() == _as_stored(config)


def test_load_config_of_a_directory_that_is_not_a_run_is_explained(tmp_path):
  with pytest.raises(checkpoints.CheckpointError,
                     match=r'config\.json does not exist: is .* a training directory'):
    runs.load_config(str(tmp_path))


def test_trained_run_lists_and_restores_the_kept_checkpoints(trained):
  workdir, config, final = trained
  run = runs.TrainedRun(workdir)
  try:
    assert run.config.to_dict() == _as_stored(config)
    assert run.steps() == [5, 10]
    latest = jax.device_get(run.restore())
    _assert_same_tree(latest, final)
    _assert_same_tree(jax.device_get(run.restore(10)), final)
    middle = jax.device_get(run.restore(5))
    assert int(middle.step) == 5 and int(latest.step) == 10
    assert _differs(middle, latest)
    with pytest.raises(checkpoints.CheckpointError,
                       match=r'No checkpoint of step 7 .*the steps kept are \[5, 10\]'):
      run.restore(7)
  finally:
    run.close()


def test_a_run_without_checkpoints_says_to_train_first(trained, tmp_path):
  shutil.copy(os.path.join(trained[0], 'config.json'), tmp_path / 'config.json')
  run = runs.TrainedRun(str(tmp_path))
  try:
    assert run.steps() == []
    with pytest.raises(checkpoints.CheckpointError, match='No checkpoint in .*train first'):
      run.restore()
  finally:
    run.close()


def test_load_run_gives_config_family_and_the_state_of_a_step(trained):
  workdir, config, final = trained
  loaded_config, family, state = runs.load_run(workdir)
  assert loaded_config.to_dict() == _as_stored(config)
  assert type(family) is type(families.make(config))
  stored = json.loads(json.dumps(families.make(config).fingerprint()))
  assert json.loads(json.dumps(family.fingerprint())) == stored
  _assert_same_tree(jax.device_get(state), final)
  _, _, middle = runs.load_run(workdir, step=5)
  assert int(middle.step) == 5


def test_a_config_json_from_before_the_declared_data_fields_loads_with_their_old_defaults(
    trained, tmp_path):
  with open(os.path.join(trained[0], 'config.json')) as f:
    written = json.load(f)
  for name in runs.DATA_FIELDS_OF_OLDER_RUNS:
    del written['data'][name]
  with open(tmp_path / 'config.json', 'w') as f:
    json.dump(written, f)
  config = runs.load_config(str(tmp_path))
  assert config.data.pad is False and config.data.pairing == ''
  assert config.data.crops_per_image == 100
  assert _as_stored(runs.load_config(trained[0])) == _as_stored(trained[1])  # nothing added
