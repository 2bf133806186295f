"""Phases: one compile per phase, data position in examples, bitwise resume mid-phase."""
import json
import os

import jax
import numpy as np
import pytest

import phased_family
from conftest import CompileCounter
from conftest import final_state
from jaxgan import config_lib
from jaxgan.data import sources as data
from jaxgan import families
from jaxgan.families import base
from jaxgan.training import checkpoints
from jaxgan.training import phases as phases_lib
from jaxgan.training import trainer as train


@pytest.fixture(autouse=True)
def phased_test_family(monkeypatch):
  monkeypatch.setitem(families.FAMILIES, 'phased_test', phased_family.PhasedTestFamily)


def test_schedule_counts_steps_and_examples_per_phase():
  schedule = phases_lib.PhaseSchedule(phased_family.PHASES)
  assert schedule.num_steps == 7 and [schedule.end(i) for i in (0, 1)] == [3, 7]
  assert [schedule.phase_index(s) for s in range(8)] == [0, 0, 0, 1, 1, 1, 1, 1]
  assert [schedule.position(s) for s in (0, 3, 5, 7)] == [0, 24, 32, 40]
  with pytest.raises(config_lib.ConfigError, match='not divisible by the 3 devices'):
    phases_lib.PhaseSchedule(phased_family.PHASES, num_devices=3)


def test_paired_source_degrades_on_the_fly_at_the_phase_size():
  config = phased_family.get_config()
  source = data.open_source(config.data, 'train', image_size=14)
  batch = data.host_batch(source, 0, 8, seed=0)
  assert batch['target'].shape == (8, 14, 14, 1) and batch['input'].shape == (8, 7, 7, 1)
  digits = data.open_source(config.data, 'train').targets
  np.testing.assert_array_equal(batch['label'], digits.labels[data.batch_indices(0, 8, 4500, 0)])


def test_two_phases_compile_once_each_and_resume_bitwise_mid_phase(tmp_path):
  config = phased_family.get_config()
  with CompileCounter() as counter:
    train.train_and_evaluate(config, str(tmp_path / 'straight'))
  assert counter.count == 2  # one per phase, none per step

  config.train.num_steps = 5  # stop two steps into phase 'high' (a kill after a checkpoint)
  train.train_and_evaluate(config, str(tmp_path / 'resumed'))
  checkpoint_dir = tmp_path / 'resumed' / 'checkpoints'
  assert sorted(int(s) for s in os.listdir(checkpoint_dir)) == [2, 3, 4, 5]  # 3: phase end
  with open(checkpoint_dir / '5' / 'meta' / 'metadata') as f:
    meta = json.load(f)
  assert (meta['phase'], meta['data_position']) == (1, 3 * 8 + 2 * 4)
  config.train.num_steps = 7
  train.train_and_evaluate(config, str(tmp_path / 'resumed'))
  straight = final_state(str(tmp_path / 'straight'), config)
  resumed = final_state(str(tmp_path / 'resumed'), config)
  assert int(straight.step) == int(resumed.step) == 7
  for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed)):
    np.testing.assert_array_equal(a, b)
  grids = sorted(os.listdir(tmp_path / 'straight' / 'samples'))  # phase ends and the last step
  assert grids == ['translations_step_0000003.png', 'translations_step_0000007.png']


def test_a_changed_phase_schedule_is_refused_on_resume(tmp_path, monkeypatch):
  config = phased_family.get_config()
  config.train.num_steps = 4
  train.train_and_evaluate(config, str(tmp_path))
  longer = (base.Phase('low', 2, 8, 14),) + phased_family.PHASES[1:]
  monkeypatch.setattr(phased_family, 'PHASES', longer)
  config.train.num_steps = 6
  with pytest.raises(checkpoints.CheckpointError, match='phases or batch sizes changed'):
    train.train_and_evaluate(config, str(tmp_path))
