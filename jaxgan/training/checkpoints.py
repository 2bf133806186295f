"""Orbax checkpoints of the whole train state plus a JSON record (data position, model identity).

Layout: `<workdir>/checkpoints/<step>/{state,meta}`; orbax writes each step to a temporary
directory and renames it when complete, so a kill mid-save leaves the previous ones intact.
A checkpoint that cannot be read, that a different model wrote, or whose values differ from
those saved stops the run with one line naming its directory and what to do: nothing is silently
restarted, overwritten or deleted.

The record holds a 32-bit checksum of every state leaf, because TensorStore stores array chunks
without one: a flipped bit in an array file otherwise restores as a silently different weight.
"""
import json
import os
import re

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

from jaxgan.training.state import TrainState


FORMAT = 2  # 1: one flat state per family (e.g. GanState), data position in steps


class CheckpointError(RuntimeError):
  """The latest checkpoint is unreadable, damaged or belongs to another model."""


# TensorStore appends its whole JSON spec and source locations to a message in brackets.
_BRACKETED_DETAIL = re.compile(r'\s\[(tensorstore_spec|source locations)[^=]*=.*$')


def short_cause(error: BaseException, limit: int = 200) -> str:
  """`Type: first sentence` of an error's message, at most about `limit` characters.

  A long TensorStore chain ('DATA_LOSS: Error opening ...: ...: innermost cause') keeps its
  status and its innermost parts; anything else is shortened at a word boundary.
  """
  lines = str(error).strip().splitlines()
  text = _BRACKETED_DETAIL.sub('', lines[0]) if lines else ''
  text = re.split(r'(?<=\.)\s', text, maxsplit=1)[0]
  if len(text) > limit:
    parts = text.split(': ')
    kept = []
    for part in reversed(parts[1:]):
      if len(': '.join([parts[0], '...', part, *kept])) > limit:
        break
      kept.insert(0, part)
    text = (': '.join([parts[0], '...', *kept]) if kept
            else text[:limit].rsplit(' ', 1)[0] + ' ...')
  return f'{type(error).__name__}: {text}' if text else type(error).__name__


def _leaf_checksum(x: jax.Array) -> jax.Array:
  """Sum mod 2**32 of the leaf's bits as unsigned words: any one changed byte changes it."""
  if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
    x = jax.random.key_data(x)
  if x.dtype == jnp.bool_:
    x = x.astype(jnp.uint8)
  word = {1: jnp.uint8, 2: jnp.uint16}.get(x.dtype.itemsize, jnp.uint32)
  return jnp.sum(jax.lax.bitcast_convert_type(x, word).astype(jnp.uint32), dtype=jnp.uint32)


@jax.jit
def _checksums(state):
  return [_leaf_checksum(jnp.asarray(x)) for x in jax.tree.leaves(state)]


def checksums(state) -> list[int]:
  """One checksum per leaf of `state`, in jax.tree.leaves order."""
  return [int(c) for c in jax.device_get(_checksums(state))]


def _model_difference(saved: dict, expected: dict) -> str:
  """What differs between a checkpoint's meta and a fingerprint (every field of the
  fingerprint); another family is said alone (its fields differ)."""
  if saved.get('family') != expected.get('family'):
    return f'family: checkpoint {saved.get("family")!r} vs config {expected.get("family")!r}'
  saved_model, expected_model = saved.get('model', {}), expected.get('model', {})
  differing = sorted(k for k in set(saved_model) | set(expected_model)
                     if saved_model.get(k) != expected_model.get(k))
  parts = [f'model.{k}: checkpoint {saved_model.get(k)!r} vs config {expected_model.get(k)!r}'
           for k in differing]
  for key in sorted(set(expected) - {'family', 'model'}):  # e.g. image_shape, a style's sha1
    if saved.get(key) != expected[key]:
      parts.append(f'{key}: checkpoint {saved.get(key)!r} vs config {expected[key]!r}')
  return '; '.join(parts)


def _without_frozen(state):
  """The state as checkpointed: frozen pretrained parameters come from their weight files."""
  return state.replace(frozen={}) if isinstance(state, TrainState) else state


class Checkpointer:
  """Saves and restores (state, meta) pairs under `directory`, keeping the newest `keep`."""

  def __init__(self, directory: str, fingerprint: dict, keep: int):
    self.directory = os.path.abspath(directory)
    self.fingerprint = json.loads(json.dumps(fingerprint))  # tuples -> lists, as stored
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
    self.manager = ocp.CheckpointManager(self.directory, options=options,
                                         item_names=('state', 'meta'))

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def all_steps(self) -> list[int]:
    return sorted(self.manager.all_steps())

  def save(self, step: int, state, data_position: int, phase: int = 0) -> None:
    """Starts an asynchronous save; the device arrays are copied before this returns.

    `data_position` counts the examples consumed; `phase` is the phase to resume in. The
    state's frozen pretrained parameters are not saved.
    """
    state = _without_frozen(state)
    meta = {'step': step, 'data_position': data_position, 'phase': phase, 'format': FORMAT,
            **self.fingerprint, 'checksums': checksums(state)}
    self.manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                    meta=ocp.args.JsonSave(meta)))

  def _advice(self, path: str, step: int) -> str:
    earlier = [s for s in self.all_steps() if s < step]
    if earlier:
      return (f'Move {path} out of {self.directory} to resume from step {earlier[-1]}, '
              'or train in a new --workdir.')
    return (f'Move {path} out of {self.directory} to train from step 0 (it is the only '
            'checkpoint), or train in a new --workdir.')

  def _unreadable(self, path: str, step: int, error: Exception) -> CheckpointError:
    return CheckpointError(f'Checkpoint {path} cannot be read ({short_cause(error)}); its files '
                           f'may be damaged or incomplete. {self._advice(path, step)}')

  def restore(self, target_state, step: int | None = None):
    """Returns (state, meta) of `step` (default: latest), or None if there is no checkpoint.

    `target_state` gives the structure, dtypes and shardings to restore into: orbax reads each
    array straight into the target's sharding, so a state saved on one mesh shape restores on
    another (data=4 -> data=2 x fsdp=2 -> one device, bitwise: tests/test_mesh.py).
    """
    step = self.latest_step() if step is None else step
    if step is None:
      return None
    path = os.path.join(self.directory, str(step))
    try:
      meta = self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
      meta = meta['meta']
    except Exception as e:  # orbax raises many types for unreadable files
      raise self._unreadable(path, step, e) from e
    if meta.get('format') != FORMAT:
      raise CheckpointError(
          f'Checkpoint {path} has format {meta.get("format", 1)}; this jaxgan reads format '
          f'{FORMAT} (one NetworkState per network, data position in examples). Retrain in a '
          'new --workdir, or read it with the jaxgan version that wrote it.')
    difference = _model_difference(meta, self.fingerprint)
    if difference:
      raise CheckpointError(
          f'Checkpoint {path} was written by a different model ({difference}). Use a new '
          f'--workdir for this config, or the config saved in that workdir\'s config.json.')
    try:
      restored = self.manager.restore(step, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(_without_frozen(target_state))))
    except Exception as e:
      raise self._unreadable(path, step, e) from e
    state = restored['state']
    if 'checksums' in meta:
      leaves = jax.tree_util.tree_flatten_with_path(state)[0]
      for (key_path, _), restored_sum, saved_sum in zip(leaves, checksums(state),
                                                        meta['checksums']):
        if restored_sum != saved_sum:
          raise CheckpointError(
              f'Checkpoint {path} is damaged: the values of state'
              f'{jax.tree_util.keystr(key_path)} differ from those saved (checksum '
              f'{restored_sum} != {saved_sum}). {self._advice(path, step)}')
    if isinstance(target_state, TrainState):
      state = state.replace(frozen=target_state.frozen)
    return state, meta

  def wait_until_finished(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.close()
