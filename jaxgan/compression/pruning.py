"""Structured channel pruning: a trained generator with fewer channels, physically smaller arrays.

Each prunable layer's output channels are ranked by a criterion and the top round(keep * C) (at
least 1) are kept, in their original order:

  l1        the L1 norm of the producing kernel's slice for the channel (Li et al. 2017, "Pruning
            Filters for Efficient ConvNets", arXiv:1608.08710);
  bn_scale  |gamma| of the normalization that follows the layer: BatchNorm, or an instance norm's
            affine scale (Liu et al. 2017, "Network Slimming", arXiv:1708.06519).

The ranking reads the EMA parameters (what the run samples with; the raw ones without an EMA).
Every array that produces or consumes a channel is sliced the same way, in the parameters, the
EMA, the mutable collections (BatchNorm statistics) and the optimizer state (Adam's moments are
parameter-shaped; its counts are kept), so the pruned run resumes training where the original
stopped. A `ChannelGroup` names these arrays by their path in the params tree.

Which layers are prunable, per model (`RULES`; generators only, the discriminators are kept whole):

  dcgan     every generator width: the Dense from the latent (each channel is the strided set
            of its outputs that the reshape to [S, S, widths[0]] puts in that channel, with
            BatchNorm_0 over the same set) and each hidden ConvTranspose, their BatchNorms,
            and the next ConvTranspose's input.
  srresnet  the first convolution of each residual block (`model.block_widths`), whose outputs
            only the block's second convolution reads; the trunk's channels are tied by the
            residual additions and the long skip, and are left whole.
  CycleGAN  the same in each residual block of both ResNet generators (`model.block_widths`).
  pix2pix   every layer of the U-Net but the last (`model.down_widths`, `model.up_widths`): an
            encoder layer's channels feed the next encoder layer and, through the skip, the
            mirrored decoder layer (the first part of its concatenated input); a decoder layer's
            feed the next decoder layer (the second part).
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
NORM_ARRAYS = ('scale', 'bias', 'mean', 'var')  # params, then BatchNorm's batch_stats


class Slice(NamedTuple):
  """Where one array holds a group's channels: channel c is the entries offset + r * width + c
  (r < repeats) of `axis`. Its path is inside the params tree, or inside a collection without
  the collection's name; a path the network does not have (a bias it has not) is skipped."""
  path: tuple[str, ...]
  axis: int
  repeats: int = 1
  offset: int = 0


@dataclasses.dataclass(frozen=True)
class ChannelGroup:
  """The output channels of one layer and every array that holds them."""
  name: str
  width: int
  kernel: Slice  # the producing kernel, ranked by `l1`
  norm: tuple[str, ...] | None  # the normalization after it (its 'scale' ranked by `bn_scale`)
  arrays: tuple[Slice, ...]  # producers and consumers


class Rule(NamedTuple):
  networks: tuple[str, ...]  # the generators pruned, each by its own ranking
  groups: Callable[[ml_collections.ConfigDict], list[ChannelGroup]]
  with_widths: Callable[[ml_collections.ConfigDict, list[int]], None]  # sets them (unlocked)


def _group(layer: str, width: int, consumers: list[Slice], norm: tuple[str, ...] | None = None,
           axis: int = -1, repeats: int = 1) -> ChannelGroup:
  """The group of `layer`'s outputs (on its kernel's `axis`): the kernel, its bias, the
  normalization `norm` after it, and the `consumers`."""
  kernel = Slice((layer, 'kernel'), axis, repeats)
  arrays = [kernel, Slice((layer, 'bias'), -1, repeats)]
  arrays += [Slice(norm + (name,), -1, repeats) for name in NORM_ARRAYS] if norm else []
  return ChannelGroup(layer, width, kernel, norm, tuple(arrays + consumers))


def _image_norm(module: str, norm: str) -> tuple[str, ...] | None:
  """The params path of an image_to_image.image_norm layer's affine module; None for 'none'."""
  return {'batch': (module, 'BatchNorm_0'), 'instance': (module, 'InstanceNorm_0')}.get(norm)


def _next_conv(layer: str, offset: int = 0, transposed: bool = False) -> Slice:
  """A consumer's kernel input axis: -2 ([kh, kw, in, out]), or -1 for a transposed kernel
  (flax's transpose_kernel=True stores [kh, kw, out, in])."""
  return Slice((layer, 'kernel'), -1 if transposed else -2, offset=offset)


def dcgan_groups(config: ml_collections.ConfigDict) -> list[ChannelGroup]:
  """The DCGAN generator's widths (models/dcgan.py): Dense_0 -> BatchNorm_0 -> reshape, then
  ConvTranspose_i -> BatchNorm_(i+1); the next ConvTranspose consumes each."""
  widths = list(config.model.generator_widths)
  start = config.data.image_size // 2 ** (len(widths) - 1)
  return [_group('Dense_0' if index == 0 else f'ConvTranspose_{index - 1}', width,
                 [_next_conv(f'ConvTranspose_{index}')], (f'BatchNorm_{index}',),
                 repeats=start * start if index == 0 else 1)
          for index, width in enumerate(widths)]


def _set_dcgan_widths(config: ml_collections.ConfigDict, widths: list[int]) -> None:
  config.model.generator_widths = tuple(widths)


def block_widths(model_config: ml_collections.ConfigDict, features: int) -> tuple[int, ...]:
  """The inner width of each residual block: `model.block_widths` where set (a pruned run),
  else `features` for all."""
  widths = model_config.get('block_widths')
  return tuple(widths) if widths else (features,) * model_config.num_blocks


def srresnet_groups(config: ml_collections.ConfigDict) -> list[ChannelGroup]:
  """SRResNet's residual blocks (models/super_resolution.py): Conv_0 is the head, block b is
  Conv_(2b+1) -> ReLU -> Conv_(2b+2); the first conv's outputs are the prunable channels."""
  return [_group(f'Conv_{2 * block + 1}', width, [_next_conv(f'Conv_{2 * block + 2}')])
          for block, width in enumerate(block_widths(config.model, config.model.features))]


def cyclegan_groups(config: ml_collections.ConfigDict) -> list[ChannelGroup]:
  """CycleGAN's residual blocks (models/unpaired.py): block_b_conv_0 -> block_b_norm_0 -> ReLU
  -> block_b_conv_1."""
  model = config.model
  trunk = model.features * 2 ** model.downsamplings
  return [_group(f'block_{block}_conv_0', width, [_next_conv(f'block_{block}_conv_1')],
                 _image_norm(f'block_{block}_norm_0', model.norm))
          for block, width in enumerate(block_widths(model, trunk))]


def _set_block_widths(config: ml_collections.ConfigDict, widths: list[int]) -> None:
  config.model.block_widths = tuple(widths)


def unet_widths(model_config: ml_collections.ConfigDict) -> tuple[list[int], list[int]]:
  """The U-Net's encoder widths (down_0..) and decoder widths (up_1.., the outputs before each
  concatenation): `model.down_widths` and `model.up_widths` where set (a pruned run), else
  models/image_to_image.py's defaults (doubling from `features` to `max_features`, mirrored)."""
  down = model_config.get('down_widths') or [
      min(model_config.features * 2 ** i, model_config.max_features)
      for i in range(model_config.depth)]
  return list(down), list(model_config.get('up_widths') or down[:-1])


def unet_groups(config: ml_collections.ConfigDict) -> list[ChannelGroup]:
  """pix2pix's U-Net (models/image_to_image.py): down_j feeds down_(j+1) and, as the skip, the
  first down[j] inputs of up_j; up_i (a transposed kernel) feeds the rest of up_(i-1)'s."""
  model = config.model
  down, up = unet_widths(model)
  depth = len(down)
  groups = []
  for j, width in enumerate(down):
    inner = j in (0, depth - 1)
    consumers = [_next_conv(f'up_{j}', transposed=True)]
    consumers += [_next_conv(f'down_{j + 1}')] if j < depth - 1 else []
    groups.append(_group(f'down_{j}', width, consumers,
                         None if inner else _image_norm(f'down_norm_{j}', model.norm)))
  for i in range(1, depth):
    groups.append(_group(f'up_{i}', up[i - 1],
                         [_next_conv(f'up_{i - 1}', offset=down[i - 1], transposed=True)],
                         _image_norm(f'up_norm_{i}', model.norm), axis=-2))
  return groups


def _set_unet_widths(config: ml_collections.ConfigDict, widths: list[int]) -> None:
  depth = config.model.depth
  config.model.down_widths, config.model.up_widths = tuple(widths[:depth]), tuple(widths[depth:])


RULES = {
    ('gan', 'dcgan'): Rule(('generator',), dcgan_groups, _set_dcgan_widths),
    ('super_resolution', 'srresnet'): Rule(('generator',), srresnet_groups, _set_block_widths),
    ('unpaired_translation', 'resnet'): Rule(('generator_ab', 'generator_ba'), cyclegan_groups,
                                             _set_block_widths),
    ('pix2pix', 'unet'): Rule(('generator',), unet_groups, _set_unet_widths),
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
        f'--criterion=bn_scale ranks by normalization scales, and {model_name(config)} has '
        'no normalization after some of its prunable layers; use --criterion=l1.')
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
  where = group.kernel if criterion == 'l1' else Slice(group.norm + ('scale',), -1,
                                                       group.kernel.repeats)
  values = np.moveaxis(np.abs(_lookup(params, where.path)), where.axis, -1)
  return values.reshape(-1, where.repeats, group.width).sum(axis=(0, 1))


def ranked_channels(scores: np.ndarray, count: int) -> np.ndarray:
  """Indices of the `count` highest scores (ties: the lower index), in ascending order."""
  return np.sort(np.argsort(-scores, kind='stable')[:count])


def kept_entries(size: int, slices: list[tuple[Slice, int, np.ndarray]]) -> np.ndarray:
  """The entries of an axis of `size` left once each (slice, width, kept channels) drops the
  channels it does not keep; entries outside every slice (another group's) are all left."""
  left = np.ones(size, bool)
  for where, width, kept in slices:
    inside = where.offset + np.arange(where.repeats)[:, None] * width
    left[inside + np.arange(width)] = False
    left[inside + kept] = True
  return np.flatnonzero(left)


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
  slices = {}  # array path -> axis -> [(slice, width, kept)]
  for group in groups:
    for where in group.arrays:
      slices.setdefault(where.path, {}).setdefault(where.axis, []).append(
          (where, group.width, kept[group.name]))

  def prune_leaf(path, leaf):
    for axis, on_axis in slices.get(_array_path(path), {}).items():
      leaf = np.take(leaf, kept_entries(np.shape(leaf)[axis], on_axis), axis=axis)
    return leaf

  return jax.tree_util.tree_map_with_path(prune_leaf, jax.device_get(network))


class Pruned(NamedTuple):
  config: ml_collections.ConfigDict  # with the pruned widths
  family: object
  state: object  # the TrainState, generators pruned
  kept: dict[str, dict[str, list[int]]]  # network -> layer -> indices of the channels kept


def prune_state(config: ml_collections.ConfigDict, state, keep: float,
                criterion: str = 'l1') -> Pruned:
  """The run (config, state) with its generators pruned to `keep` of each prunable layer's
  channels by `criterion`; the state's structure and shapes are checked against those the new
  config builds."""
  rule = check_arguments(config, keep, criterion)
  groups = rule.groups(config)
  networks, kept = dict(state.networks), {}
  for name in rule.networks:
    kept[name] = {g.name: ranked_channels(channel_scores(networks[name], g, criterion),
                                          kept_width(g.width, keep)) for g in groups}
    networks[name] = prune_network(networks[name], groups, kept[name])
  new_config = config.copy_and_resolve_references()
  with new_config.unlocked():
    rule.with_widths(new_config, [kept_width(g.width, keep) for g in groups])
  family = families.make(new_config)
  pruned = state.replace(networks=networks)
  _check_shapes(family, pruned)
  return Pruned(new_config, family, pruned,
                {name: {layer: c.tolist() for layer, c in layers.items()}
                 for name, layers in kept.items()})


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


# DIR/config.py of a pruned run: the run's config.json as a --config for jaxgan.main.
RUN_CONFIG_PY = '''"""This run's config (config.json beside this file), to go on training it:
  python -m jaxgan.main --config=DIR/config.py --workdir=DIR --config.train.num_steps=M
"""
import os

from jaxgan.inference import runs


def get_config(arg=None):
  del arg
  return runs.load_config(os.path.dirname(os.path.abspath(__file__)))
'''


def write_run(pruned: Pruned, out: str, step: int, record: dict) -> None:
  """`out` as a training directory: config.json, the pruned state checkpointed at `step` with
  the data position and phase the trainer expects there (so jaxgan.main resumes it),
  config.py (config.json as a --config) and prune.json (`record`: where it came from, what was
  kept, its cost)."""
  schedule = phases_lib.PhaseSchedule(base.phases(pruned.family))
  os.makedirs(out, exist_ok=True)
  config_lib.write_config_json(pruned.config, os.path.join(out, 'config.json'))
  with open(os.path.join(out, 'config.py'), 'w') as f:
    f.write(RUN_CONFIG_PY)
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
  _, family, state = runs.load_run(workdir, step)
  pruned = prune_state(config, state, keep, criterion)
  record = {
      'source': os.path.abspath(workdir), 'step': int(state.step), 'keep': keep,
      'criterion': criterion,
      'widths': {g.name: [g.width, kept_width(g.width, keep)]
                 for g in rule_for(config).groups(config)},
      'kept': pruned.kept,
      'cost_before': cost.inference_cost(family, state),
      'cost_after': cost.inference_cost(pruned.family, pruned.state)}
  write_run(pruned, out, int(state.step), record)
  return record
