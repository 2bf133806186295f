"""Structured channel pruning: a trained generator with fewer channels, its arrays physically smaller.

Each prunable layer's output channels are ranked by a criterion and the top round(keep * C) (at
least 1) are kept, in their original order:

  l1        the L1 norm of the producing kernel's slice for the channel (Li et al. 2017, "Pruning
            Filters for Efficient ConvNets", arXiv:1608.08710);
  bn_scale  |gamma| of the BatchNorm that follows the layer (Liu et al. 2017, "Network Slimming",
            arXiv:1708.06519).

The ranking reads the EMA parameters (what the run samples with; the raw ones without an EMA).
Every array that produces or consumes a channel is sliced the same way, in the parameters, the
EMA, the mutable collections (BatchNorm statistics) and the optimizer state (Adam's moments are
parameter-shaped; its counts are kept), so the pruned run resumes training where the original
stopped. A channel group (`ChannelGroup`) names these arrays by their path in the params tree.

Which layers are prunable, per model (`RULES`; generators only, the discriminator is kept whole):

  dcgan     every generator width: the Dense from the latent (each channel is the strided set
            of its outputs that the reshape to [S, S, widths[0]] puts in that channel, with
            BatchNorm_0 over the same set) and each hidden ConvTranspose, their BatchNorms,
            and the next ConvTranspose's input.
  srresnet  the first convolution of each residual block (`model.block_widths`), whose outputs
            only the block's second convolution reads; the trunk's channels are tied by the
            residual additions and the long skip, and are left whole.
"""
import dataclasses
import json
import os
from typing import Callable, NamedTuple

import jax
import ml_collections
import numpy as np

from jaxgan import config_lib
from jaxgan import families
from jaxgan.families import base
from jaxgan.inference import cost
from jaxgan.inference import runs
from jaxgan.training import checkpoints
from jaxgan.training import mesh as mesh_lib
from jaxgan.training import phases as phases_lib
from jaxgan.training.state import NetworkState

CRITERIA = ('l1', 'bn_scale')
BATCH_NORM_ARRAYS = ('scale', 'bias', 'mean', 'var')  # params, then batch_stats


@dataclasses.dataclass(frozen=True)
class ChannelGroup:
  """The output channels of one layer and every array that holds them.

  `produced` arrays hold the channels on their last axis, `consumed` arrays (the next kernel's
  input) on axis -2. Each channel of a produced array is `repeats` entries strided by `width`
  (r * width + c): a Dense whose outputs are reshaped to [S, S, width] has repeats = S * S.
  Paths are inside the params tree, or inside a collection without its name.
  """
  name: str
  width: int
  kernel: tuple[str, ...]  # ranked by `l1`
  norm: str | None  # the BatchNorm ranked by `bn_scale`
  produced: tuple[tuple[str, ...], ...]
  consumed: tuple[tuple[str, ...], ...]
  repeats: int = 1


class Rule(NamedTuple):
  groups: Callable[[ml_collections.ConfigDict], list[ChannelGroup]]
  with_widths: Callable[[ml_collections.ConfigDict, list[int]], None]  # sets them (unlocked)


def _producer_arrays(layer: str, norm: str | None, use_bias: bool) -> tuple:
  arrays = [(layer, 'kernel')] + ([(layer, 'bias')] if use_bias else [])
  return tuple(arrays + ([(norm, name) for name in BATCH_NORM_ARRAYS] if norm else []))


def dcgan_groups(config: ml_collections.ConfigDict) -> list[ChannelGroup]:
  """The DCGAN generator's widths (models/dcgan.py): Dense_0 -> BatchNorm_0 -> reshape, then
  ConvTranspose_i -> BatchNorm_(i+1); the next ConvTranspose consumes each."""
  widths = list(config.model.generator_widths)
  start = config.data.image_size // 2 ** (len(widths) - 1)
  groups = []
  for index, width in enumerate(widths):
    layer = 'Dense_0' if index == 0 else f'ConvTranspose_{index - 1}'
    norm = f'BatchNorm_{index}'
    groups.append(ChannelGroup(
        name=layer, width=width, kernel=(layer, 'kernel'), norm=norm,
        produced=_producer_arrays(layer, norm, use_bias=False),
        consumed=((f'ConvTranspose_{index}', 'kernel'),),
        repeats=start * start if index == 0 else 1))
  return groups


def _set_dcgan_widths(config: ml_collections.ConfigDict, widths: list[int]) -> None:
  config.model.generator_widths = tuple(widths)


def srresnet_block_widths(model_config: ml_collections.ConfigDict) -> tuple[int, ...]:
  """The inner width of each SRResNet residual block: `model.block_widths` where a pruned run
  set it, else `model.features` for all."""
  widths = model_config.get('block_widths')
  return tuple(widths) if widths else (model_config.features,) * model_config.num_blocks


def srresnet_groups(config: ml_collections.ConfigDict) -> list[ChannelGroup]:
  """SRResNet's residual blocks (models/super_resolution.py): Conv_0 is the head, block b is
  Conv_(2b+1) -> ReLU -> Conv_(2b+2); the first conv's outputs are the prunable channels."""
  groups = []
  for block, width in enumerate(srresnet_block_widths(config.model)):
    layer = f'Conv_{2 * block + 1}'
    groups.append(ChannelGroup(
        name=layer, width=width, kernel=(layer, 'kernel'), norm=None,
        produced=_producer_arrays(layer, None, use_bias=True),
        consumed=((f'Conv_{2 * block + 2}', 'kernel'),)))
  return groups


def _set_srresnet_widths(config: ml_collections.ConfigDict, widths: list[int]) -> None:
  config.model.block_widths = tuple(widths)


RULES = {
    ('gan', 'dcgan'): Rule(dcgan_groups, _set_dcgan_widths),
    ('super_resolution', 'srresnet'): Rule(srresnet_groups, _set_srresnet_widths),
}


def model_name(config: ml_collections.ConfigDict) -> str:
  """The generator architecture a config builds (`model.name` or `model.generator`)."""
  return config.model.get('name', config.model.get('generator', '?'))


def rule_for(config: ml_collections.ConfigDict) -> Rule:
  """The pruning rule of the config's family and generator; a ConfigError if it has none."""
  key = (config.family, model_name(config))
  if key not in RULES:
    raise config_lib.ConfigError(
        f'No pruning rule for a {key[0]!r} run with generator {key[1]!r}; prunable: '
        f'{", ".join(f"{f}/{m}" for f, m in sorted(RULES))}.')
  return RULES[key]


def check_arguments(config: ml_collections.ConfigDict, keep: float, criterion: str) -> Rule:
  """The rule for `config` once `keep` and `criterion` are valid for it (ConfigError if not)."""
  if not 0 < keep <= 1:
    raise config_lib.ConfigError(f'--keep={keep} must be in (0, 1]: the fraction of each '
                                 "prunable layer's channels to keep.")
  if criterion not in CRITERIA:
    raise config_lib.ConfigError(f'Unknown criterion {criterion!r}; choose one of {CRITERIA}.')
  rule = rule_for(config)
  if criterion == 'bn_scale' and not all(g.norm for g in rule.groups(config)):
    raise config_lib.ConfigError(
        f'--criterion=bn_scale ranks by BatchNorm scales, and {model_name(config)} has no '
        'BatchNorm after its prunable layers; use --criterion=l1.')
  return rule


def kept_width(width: int, keep: float) -> int:
  """round(keep * width), halves up, and at least 1."""
  return max(1, int(np.floor(keep * width + 0.5)))


def _lookup(tree, path: tuple[str, ...]) -> np.ndarray:
  for key in path:
    tree = tree[key]
  return np.asarray(tree)


def channel_scores(network: NetworkState, group: ChannelGroup, criterion: str) -> np.ndarray:
  """[width] importance of each channel of `group` (module doc), from the EMA parameters."""
  params = network.ema_params or network.params
  if criterion == 'l1':
    values = _lookup(params, group.kernel)
  else:
    values = _lookup(params, (group.norm, 'scale'))
  return np.abs(values).reshape(-1, group.repeats, group.width).sum(axis=(0, 1))


def ranked_channels(scores: np.ndarray, count: int) -> np.ndarray:
  """Indices of the `count` highest scores (ties: the lower index), in ascending order."""
  return np.sort(np.argsort(-scores, kind='stable')[:count])


def take_channels(array, axis: int, kept: np.ndarray, repeats: int = 1) -> np.ndarray:
  """`array` with only the channels `kept` on `axis`, whose entries are r * width + c."""
  array = np.asarray(array)
  axis %= array.ndim
  shape = array.shape
  split = array.reshape(shape[:axis] + (repeats, shape[axis] // repeats) + shape[axis + 1:])
  return np.take(split, kept, axis=axis + 1).reshape(shape[:axis] + (-1,) + shape[axis + 1:])


def _array_path(path) -> tuple[str, ...]:
  """A NetworkState leaf's path inside its params tree (params, EMA, optimizer moments) or
  its collection (the collection's name dropped)."""
  names = tuple(str(key.key) for key in path if isinstance(key, jax.tree_util.DictKey))
  in_collection = isinstance(path[0], jax.tree_util.GetAttrKey) and path[0].name == 'collections'
  return names[1:] if in_collection else names


def prune_network(network: NetworkState, groups: list[ChannelGroup],
                  kept: dict[str, np.ndarray]) -> NetworkState:
  """`network` with only the channels kept[group.name] of each group, in every array that holds
  them (parameters, EMA, collections, optimizer moments); other leaves unchanged."""
  slicings = {}  # array path -> [(axis, kept, repeats)]
  for group in groups:
    for path in group.produced:
      slicings.setdefault(path, []).append((-1, kept[group.name], group.repeats))
    for path in group.consumed:
      slicings.setdefault(path, []).append((-2, kept[group.name], 1))

  def prune_leaf(path, leaf):
    array_path = _array_path(path)
    if array_path not in slicings:
      return leaf
    for axis, channels, repeats in slicings[array_path]:
      leaf = take_channels(leaf, axis, channels, repeats)
    return leaf

  return jax.tree_util.tree_map_with_path(prune_leaf, jax.device_get(network))


class Pruned(NamedTuple):
  config: ml_collections.ConfigDict  # with the pruned widths
  family: object
  state: object  # the TrainState, generator pruned
  kept: dict[str, list[int]]  # layer -> indices of the channels kept


def prune_state(config: ml_collections.ConfigDict, state, keep: float,
                criterion: str = 'l1') -> Pruned:
  """The run (config, state) with its generator pruned to `keep` of each prunable layer's
  channels by `criterion`; the state's structure and shapes are checked against those the new
  config builds."""
  rule = check_arguments(config, keep, criterion)
  generator = state.networks['generator']
  groups = rule.groups(config)
  kept = {g.name: ranked_channels(channel_scores(generator, g, criterion),
                                  kept_width(g.width, keep)) for g in groups}
  pruned = state.replace(networks={**state.networks,
                                   'generator': prune_network(generator, groups, kept)})
  new_config = config.copy_and_resolve_references()
  with new_config.unlocked():
    rule.with_widths(new_config, [len(kept[g.name]) for g in groups])
  family = families.make(new_config)
  _check_shapes(family, pruned)
  return Pruned(new_config, family, pruned, {name: c.tolist() for name, c in kept.items()})


def _check_shapes(family, state) -> None:
  """A ValueError naming the first leaf whose shape differs from what `family.init` makes."""
  example = families.zeros_like_batch(family.example_batch(base.phases(family)[0]))
  expected = jax.eval_shape(family.init, jax.random.key(0), example).replace(frozen={})
  shapes = lambda tree: {jax.tree_util.keystr(p): np.shape(x)
                         for p, x in jax.tree_util.tree_leaves_with_path(tree)}
  found, wanted = shapes(state.replace(frozen={})), shapes(expected)
  for path in sorted(found.keys() | wanted.keys()):
    if found.get(path) != wanted.get(path):
      raise ValueError(f'Pruning left state{path} of shape {found.get(path)}; the pruned '
                       f'config builds {wanted.get(path)}.')


def check_output(out: str) -> None:
  """A ConfigError if `out` exists and is not an empty directory: a pruned run is a new run."""
  if os.path.exists(out) and not (os.path.isdir(out) and not os.listdir(out)):
    raise config_lib.ConfigError(f'--out={out} exists and is not empty; pass a new directory '
                                 'for the pruned run.')


def write_run(pruned: Pruned, out: str, step: int, record: dict) -> None:
  """`out` as a training directory: config.json, the pruned state checkpointed at `step` with
  the data position and phase the trainer expects there (so jaxgan.main resumes it), and
  prune.json (`record`: where it came from, what was kept, its cost)."""
  schedule = phases_lib.PhaseSchedule(base.phases(pruned.family))
  os.makedirs(out, exist_ok=True)
  config_lib.write_config_json(pruned.config, os.path.join(out, 'config.json'))
  checkpointer = checkpoints.Checkpointer(os.path.join(out, 'checkpoints'),
                                          pruned.family.fingerprint(),
                                          pruned.config.train.keep_checkpoints)
  try:
    checkpointer.save(step, mesh_lib.replicate(pruned.state, mesh_lib.make_mesh()),
                      data_position=schedule.position(step), phase=schedule.phase_index(step))
    checkpointer.wait_until_finished()
  finally:
    checkpointer.close()
  with open(os.path.join(out, 'prune.json'), 'w') as f:
    json.dump(record, f, indent=2)


def prune_run(workdir: str, out: str, keep: float, criterion: str = 'l1',
              step: int | None = None) -> dict:
  """Prunes the generator of the run in `workdir` (its checkpoint at `step`, default the
  latest) into the new run `out`; returns what prune.json records. Every check (the arguments,
  the model's rule, `out`, the checkpoint) runs before anything is written."""
  config = runs.load_config(workdir)
  check_arguments(config, keep, criterion)
  check_output(out)
  if not os.path.isdir(os.path.join(workdir, 'checkpoints')):
    raise checkpoints.CheckpointError(f'No checkpoint in {workdir}: prune a run that has saved '
                                      'one (python -m jaxgan.main --workdir=...).')
  run = runs.TrainedRun(workdir, config)
  try:
    state = run.restore(step)
  finally:
    run.close()
  pruned = prune_state(config, state, keep, criterion)
  groups = rule_for(config).groups(config)
  record = {
      'source': os.path.abspath(workdir), 'step': int(state.step), 'keep': keep,
      'criterion': criterion,
      'layers': {g.name: {'width': g.width, 'kept': pruned.kept[g.name]} for g in groups},
      'cost_before': cost.inference_cost(run.family, state),
      'cost_after': cost.inference_cost(pruned.family, pruned.state)}
  write_run(pruned, out, int(state.step), record)
  return record
