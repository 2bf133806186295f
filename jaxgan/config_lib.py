"""Loading, override checking and validation of ml_collections configs.

Every check here runs before any compute, so a typo in a flag or an impossible value costs
seconds, not a compile and a crash halfway through a run.
"""
import importlib.util
import json
import os
import re
import types
from typing import Sequence

import ml_collections
import numpy as np
from ml_collections.config_dict import config_dict as _config_dict


class ConfigError(ValueError):
  """A config field is unknown or has a value the trainer cannot run with."""


MESH_AXES = ('data', 'fsdp', 'model')  # jaxgan/training/mesh.py


def mesh_axis_sizes(block: dict, num_devices: int) -> dict:
  """{axis: size} of config.mesh over `num_devices` devices (a -1 takes the devices left);
  ConfigError unless the sizes multiply to the device count."""
  unknown = sorted(set(block) - set(MESH_AXES) - {'min_sharded_bytes'})
  if unknown:
    raise ConfigError(f'Unknown mesh axes {unknown} in config.mesh; the sharding rules know '
                      f'{list(MESH_AXES)}.')
  sizes = {axis: block.get(axis, -1 if axis == 'data' else 1) for axis in MESH_AXES}
  if any(not isinstance(v, int) or v == 0 or v < -1 for v in sizes.values()) or (
      list(sizes.values()).count(-1) > 1):
    raise ConfigError(f'config.mesh axis sizes must be positive integers (one of them may be -1: '
                      f'the devices left), got {sizes}.')
  given = ', '.join(f'{axis}={size}' for axis, size in sizes.items())
  known = int(np.prod([size for size in sizes.values() if size > 0]))
  sizes = {axis: num_devices // known if size == -1 else size for axis, size in sizes.items()}
  if int(np.prod(list(sizes.values()))) != num_devices or not all(sizes.values()):
    raise ConfigError(f'config.mesh {given} does not multiply to the {num_devices} devices; '
                      f'choose sizes whose product is {num_devices} (data=-1: the devices left).')
  return sizes


def _exec_file(path: str, module_name: str) -> types.ModuleType:
  module_spec = importlib.util.spec_from_file_location(module_name, path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module


# The checkout jaxgan runs from: the configs/ of its README's commands are here.
REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def find_config_file(path: str) -> str:
  """`path` if it is a file; else, for a relative path, the same path in the repository (so the
  README's `--config=configs/dcgan.py` works from any directory). A file in neither place is
  a ConfigError naming the flag that works."""
  if os.path.isfile(path):
    return path
  in_repository = os.path.join(REPOSITORY, path)
  if not os.path.isabs(path) and os.path.isfile(in_repository):
    return in_repository
  configs = os.path.join(REPOSITORY, 'configs')
  named = os.path.join(configs, os.path.basename(path))
  example = named if os.path.isfile(named) else os.path.join(configs, 'dcgan.py')
  raise ConfigError(f'Config file {path!r} does not exist (relative paths start at the '
                    f'current directory, {os.getcwd()}, or at the repository, {REPOSITORY}); '
                    f'the configs are in {configs}, e.g. --config={example}')


def load_config(spec: str) -> ml_collections.ConfigDict:
  """Loads `path/to/config.py[:arg]` (found by find_config_file) by calling `get_config(arg)`."""
  path, _, arg = spec.partition(':')
  module = _exec_file(find_config_file(path), '_jaxgan_config')
  return module.get_config(arg or None) if arg else module.get_config()


def sibling_module(config_file: str, name: str) -> types.ModuleType:
  """The module `<name>.py` next to `config_file` (a config's `__file__`), e.g. its blocks.

  Configs import their helpers this way rather than as `configs.<name>`, so that a config loads
  from any working directory, whoever loads it: load_config, absl's config_flags, a test.
  """
  path = os.path.join(os.path.dirname(os.path.abspath(config_file)), f'{name}.py')
  return _exec_file(path, f'_jaxgan_config_{name}')


def derived(function, field_type: type, *references: ml_collections.FieldReference
            ) -> ml_collections.FieldReference:
  """A field computed from other fields when read: function(*their values), of `field_type`
  (e.g. an image size from the last entry of a tuple of resolutions, which FieldReference's
  arithmetic cannot express). Set from a flag, it holds the value set instead. Built as
  ml_collections builds its own casts (FieldReference._apply_cast_op)."""
  operation = _config_dict._Op(  # pylint: disable=protected-access
      lambda _, *values: function(*values), list(references))
  return ml_collections.FieldReference(field_type(), field_type=field_type, op=operation)


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


def check_config_flags(argv: Sequence[str], flag_name: str = 'config') -> list[str]:
  """Loads `--config=FILE[:arg]` and checks every `--config.a.b=v` in argv names an existing
  field, before absl parses them: a missing file, an unknown preset (a ConfigError from
  get_config) or a misspelt field is then one ConfigError, not a traceback from inside absl.
  Returns argv with FILE as find_config_file found it (absl's config flag reads it again)."""
  where = None  # (index of the FILE[:arg] argument, the text before it)
  overrides = []
  args = list(argv[1:])
  for i, arg in enumerate(args):
    if arg.startswith(f'--{flag_name}='):
      where = i, f'--{flag_name}='
    elif arg == f'--{flag_name}' and i + 1 < len(args):
      where = i + 1, ''
    match = re.match(rf'--{flag_name}\.([\w.]+)', arg)
    if match:
      overrides.append(match.group(1))
  if where is None:
    return list(argv)
  index, before = where
  path, colon, arg = args[index][len(before):].partition(':')
  spec = f'{find_config_file(path)}{colon}{arg}'
  args[index] = before + spec
  config = load_config(spec)
  for dotted in overrides:
    message = unknown_override_message(config, dotted)
    if message:
      raise ConfigError(message)
  return [argv[0], *args]


def _require(condition: bool, message: str) -> None:
  if not condition:
    raise ConfigError(message)


def validate(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """Raises ConfigError naming the field if a value cannot work; runs before any compute."""
  _require(config.get('quantize') is None,
           f'config.quantize={config.get("quantize")!r}: a quantized model cannot be trained '
           '(int8 weights have no gradients); train the float32 run and serve it with '
           "jaxgan.load(workdir, quantize='int8').")
  train = config.train
  for field in ('num_steps', 'batch_size', 'log_every', 'checkpoint_every', 'sample_every',
                'keep_checkpoints', 'num_sample_images'):
    _require(isinstance(train[field], int) and train[field] > 0,
             f'config.train.{field} must be a positive integer, got {train[field]!r}.')
  _require(train.batch_size % num_devices == 0,
           f'config.train.batch_size={train.batch_size} is not divisible by the {num_devices} '
           f'devices; use a multiple of {num_devices}.')
  mesh = config.get('mesh')
  sizes = mesh_axis_sizes(mesh.to_dict() if mesh is not None else {}, num_devices)
  microbatches = train.get('microbatches', 1)
  batch_devices = sizes['data'] * sizes['fsdp']
  _require(isinstance(microbatches, int) and microbatches > 0
           and train.batch_size % (microbatches * batch_devices) == 0,
           f'config.train.microbatches={microbatches} must be a positive integer that divides '
           f'config.train.batch_size={train.batch_size} into micro-batches split evenly over the '
           f'{batch_devices} devices of mesh axes data x fsdp; use a divisor of '
           f'{train.batch_size // batch_devices}.')
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
