"""The config a training directory holds (DIR/config.json): to go on training a run written
by a tool rather than by a config file, e.g. a pruned run (jaxgan.prune) to fine-tune.

Usage:
  python -m jaxgan.main --config=configs/from_run.py:DIR --workdir=DIR --config.train.num_steps=M
The part after ':' is the directory; any field can be overridden as usual.
"""
import os

import ml_collections

from jaxgan import config_lib
from jaxgan.inference import runs


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns DIR/config.json, locked; `arg` is DIR."""
  if not arg:
    raise config_lib.ConfigError("configs/from_run.py needs the run's directory after ':', e.g. "
                                 '--config=configs/from_run.py:/tmp/pruned.')
  if not os.path.isfile(os.path.join(arg, 'config.json')):
    raise config_lib.ConfigError(f'{arg} has no config.json: is it a training directory?')
  return runs.load_config(arg)
