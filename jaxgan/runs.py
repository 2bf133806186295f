"""Reading a training directory written by jaxgan.main: its config, model family and checkpoints.

Shared by the command-line tools that work on a finished or running training (jaxgan.sample,
jaxgan.eval); this module defines no flags, so each tool keeps its own.
"""
import os

import ml_collections

from jaxgan import checkpoints
from jaxgan import config_lib
from jaxgan import families
from jaxgan import train


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a training directory was trained with (DIR/config.json)."""
  config_path = os.path.join(workdir, 'config.json')
  if not os.path.exists(config_path):
    raise checkpoints.CheckpointError(f'{config_path} does not exist: is {workdir} a training '
                                      'directory written by jaxgan.main?')
  return config_lib.config_from_json(config_path)


def _checkpointer(workdir: str, config, family) -> checkpoints.Checkpointer:
  return checkpoints.Checkpointer(os.path.join(workdir, 'checkpoints'), family.fingerprint(),
                                  config.train.keep_checkpoints)


def checkpoint_steps(workdir: str) -> list[int]:
  """Steps of the checkpoints kept in DIR/checkpoints, ascending."""
  config = load_config(workdir)
  checkpointer = _checkpointer(workdir, config, families.make(config))
  steps = sorted(checkpointer.manager.all_steps())
  checkpointer.close()
  return steps


def load_run(workdir: str, step: int | None = None):
  """(config, family, state) of a training directory's checkpoint at `step` (default: latest)."""
  config = load_config(workdir)
  family = families.make(config)
  checkpointer = _checkpointer(workdir, config, family)
  restored = checkpointer.restore(train.init_state(family, config, train.make_mesh()), step)
  checkpointer.close()
  if restored is None:
    raise checkpoints.CheckpointError(f'No checkpoint in {checkpointer.directory}.')
  return config, family, restored[0]
