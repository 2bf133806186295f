"""Loading, override checking and validation of ml_collections configs.

Every check here runs before any compute, so a typo in a flag or an impossible value costs
seconds, not a compile and a crash halfway through a run.
"""
import importlib.util
import json
import os
import re
from typing import Sequence

import ml_collections

class ConfigError(ValueError):
  """A config field is unknown or has a value the trainer cannot run with."""


def load_config(spec: str) -> ml_collections.ConfigDict:
  """Loads `path/to/config.py[:arg]` by calling its `get_config(arg)`."""
  path, _, arg = spec.partition(':')
  if not os.path.isfile(path):
    raise ConfigError(f'Config file {path!r} does not exist.')
  module_spec = importlib.util.spec_from_file_location('_jaxgan_config', path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg or None) if arg else module.get_config()


def config_from_json(path: str) -> ml_collections.ConfigDict:
  """Reads a `config.json` written by the trainer back into a locked ConfigDict."""
  with open(path) as f:
    config = ml_collections.ConfigDict(json.load(f), convert_dict=True)
  config.lock()
  return config


def write_config_json(config: ml_collections.ConfigDict, path: str) -> None:
  """Writes the resolved config; an earlier, different one is kept as config.json.<n>."""
  text = config.to_json(indent=2, sort_keys=True)
  if os.path.exists(path):
    with open(path) as f:
      if f.read() == text:
        return
    n = 1
    while os.path.exists(f'{path}.{n}'):
      n += 1
    os.rename(path, f'{path}.{n}')
  with open(path + '.tmp', 'w') as f:
    f.write(text)
  os.replace(path + '.tmp', path)


def unknown_override_message(config: ml_collections.ConfigDict, dotted: str) -> str | None:
  """Returns an error message if `dotted` (e.g. 'train.num_stepz') is not a field of config."""
  node = config
  walked = []
  for name in dotted.split('.'):
    if not isinstance(node, ml_collections.ConfigDict) or name not in node:
      where = 'config' + ''.join('.' + w for w in walked)
      valid = sorted(node.keys()) if isinstance(node, ml_collections.ConfigDict) else []
      return (f'Unknown config field {("config." + dotted)!r}: {where} has no field {name!r}. '
              f'Valid fields of {where}: {", ".join(valid) or "(none: it is a leaf value)"}.')
    walked.append(name)
    node = node[name]
  return None


def check_override_flags(argv: Sequence[str], flag_name: str = 'config') -> None:
  """Checks every `--config.a.b=v` in argv names an existing field, before absl parses them."""
  spec = None
  overrides = []
  for arg in argv[1:]:
    match = re.match(rf'--{flag_name}=(.*)', arg)
    if match:
      spec = match.group(1)
    match = re.match(rf'--{flag_name}\.([\w.]+)', arg)
    if match:
      overrides.append(match.group(1))
  if spec is None or not overrides:
    return
  config = load_config(spec)
  for dotted in overrides:
    message = unknown_override_message(config, dotted)
    if message:
      raise ConfigError(message)


def _require(condition: bool, message: str) -> None:
  if not condition:
    raise ConfigError(message)


def validate(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """Raises ConfigError naming the field if a value cannot work; runs before any compute."""
  train = config.train
  for field in ('num_steps', 'batch_size', 'log_every', 'checkpoint_every', 'sample_every',
                'keep_checkpoints', 'num_sample_images'):
    _require(isinstance(train[field], int) and train[field] > 0,
             f'config.train.{field} must be a positive integer, got {train[field]!r}.')
  _require(train.batch_size % num_devices == 0,
           f'config.train.batch_size={train.batch_size} is not divisible by the {num_devices} '
           f'devices; use a multiple of {num_devices}.')
  _require(0.0 <= train.ema_decay < 1.0,
           f'config.train.ema_decay must be in [0, 1), got {train.ema_decay}.')
  _require(config.data.image_size > 0 and config.data.channels in (1, 3),
           f'config.data.image_size must be positive and config.data.channels 1 or 3, got '
           f'{config.data.image_size} and {config.data.channels}.')
  for network, optim in config.optim.items():
    _require(optim.learning_rate > 0,
             f'config.optim.{network}.learning_rate must be positive, got {optim.learning_rate}.')
  _require(isinstance(config.data.name, str) and config.data.name,
           'config.data.name must name a dataset: mnist_5k or a tensorflow-datasets name.')
