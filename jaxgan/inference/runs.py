"""Reading a training directory written by jaxgan.main: its config, model family and checkpoints.

Shared by the command-line tools that work on a finished or running training (jaxgan.sample,
jaxgan.eval, jaxgan.translate); this module defines no flags, so each tool keeps its own.
"""
import os

import jax
import ml_collections

from jaxgan import config_lib
from jaxgan import families
from jaxgan.training import checkpoints
from jaxgan.training import mesh as mesh_lib


# Data fields that configs/blocks.py declares now and a config.json written before may lack, with
# the values the code read for an absent field then; a run trained then trained with these.
DATA_FIELDS_OF_OLDER_RUNS = {'pad': False, 'crop': False, 'crops_per_image': 100,
                             'image_feature': 'image', 'pairing': '', 'paired_test': False}


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a training directory was trained with (DIR/config.json), with the data fields
  of DATA_FIELDS_OF_OLDER_RUNS it lacks (a run written before they were declared) added."""
  config_path = os.path.join(workdir, 'config.json')
  if not os.path.exists(config_path):
    raise checkpoints.CheckpointError(f'{config_path} does not exist: is {workdir} a training '
                                      'directory written by jaxgan.main?')
  config = config_lib.config_from_json(config_path)
  with config.unlocked():
    for block in (config.data, config.data.get('other')):
      for name, value in DATA_FIELDS_OF_OLDER_RUNS.items():
        if block is not None and name not in block:
          block[name] = value
  return config


class TrainedRun:
  """A training directory opened read-only: its config, the family it builds, its checkpoints.

  The family and the restore target are built once, however many checkpoints are restored.
  `config` replaces DIR/config.json (jaxgan.eval passes it with another `eval` block, which a
  family may read, e.g. the VAE's IWAE settings).
  """

  def __init__(self, workdir: str, config: ml_collections.ConfigDict | None = None):
    self.config = load_config(workdir) if config is None else config
    self.family = families.make(self.config)
    self._checkpointer = checkpoints.Checkpointer(
        os.path.join(workdir, 'checkpoints'), self.family.fingerprint(),
        self.config.train.keep_checkpoints)
    self._target = families.init_state(self.family, mesh_lib.make_mesh())

  def steps(self) -> list[int]:
    """Steps of the checkpoints kept in DIR/checkpoints, ascending."""
    return sorted(self._checkpointer.manager.all_steps())

  def restore(self, step: int | None = None):
    """The train state of the checkpoint at `step` (default: the latest)."""
    steps = self.steps()
    directory = self._checkpointer.directory
    if not steps:
      raise checkpoints.CheckpointError(
          f'No checkpoint in {directory}: train first (python -m jaxgan.main --workdir=...) or '
          'pass the --workdir of a run that has saved one.')
    if step is not None and step not in steps:
      raise checkpoints.CheckpointError(
          f'No checkpoint of step {step} in {directory}; the steps kept are {steps}.')
    return self._checkpointer.restore(self._target, step)[0]

  def close(self) -> None:
    self._checkpointer.close()


def load_run(workdir: str, step: int | None = None):
  """(config, family, state) of a training directory's checkpoint at `step` (default: latest)."""
  run = TrainedRun(workdir)
  try:
    return run.config, run.family, run.restore(step)
  finally:
    run.close()


def _same_tree(name: str, a, b) -> None:
  """A ConfigError naming the first path where trees `a` and `b` differ in structure or shape."""
  shapes_a = {jax.tree_util.keystr(p): x.shape for p, x in jax.tree_util.tree_leaves_with_path(a)}
  shapes_b = {jax.tree_util.keystr(p): x.shape for p, x in jax.tree_util.tree_leaves_with_path(b)}
  for path in sorted(shapes_a.keys() | shapes_b.keys()):
    if shapes_a.get(path) != shapes_b.get(path):
      raise config_lib.ConfigError(
          f'Cannot interpolate the two runs: {name}{path} is {shapes_a.get(path, "absent")} in '
          f'one and {shapes_b.get(path, "absent")} in the other; interpolate runs of the same '
          'model (e.g. a GAN run and the PSNR run it was initialised from).')


def interpolate_states(a, b, alpha: float):
  """Network interpolation (Wang et al. 2018, ESRGAN, arXiv:1809.00219, sec. 3.4): TrainState
  `b` with the params and EMA params of each network that `a` also has replaced by
  (1 - alpha) * a's + alpha * b's. With `a` a PSNR-trained run and `b` its GAN fine-tuning,
  alpha trades fidelity (0) for detail (1) without retraining. Everything else is b's."""
  shared = sorted(a.networks.keys() & b.networks.keys())
  if not shared:
    raise config_lib.ConfigError(
        f'Cannot interpolate the two runs: no network in common ({sorted(a.networks)} and '
        f'{sorted(b.networks)}).')
  networks = dict(b.networks)
  for name in shared:
    mixed = {}
    for field in ('params', 'ema_params'):
      tree_a, tree_b = getattr(a.networks[name], field), getattr(b.networks[name], field)
      _same_tree(f'{name}.{field}', tree_a, tree_b)
      mixed[field] = jax.tree.map(lambda x, y: (1 - alpha) * x + alpha * y, tree_a, tree_b)
    networks[name] = b.networks[name].replace(**mixed)
  return b.replace(networks=networks)
