"""Orbax checkpoints of the whole train state plus a JSON record (data position, model identity).

Layout: `<workdir>/checkpoints/<step>/{state,meta}`; orbax writes each step to a temporary
directory and renames it when complete, so a kill mid-save leaves the previous ones intact.
A checkpoint that cannot be read, or that a different model wrote, stops the run with an error
naming its directory: nothing is silently restarted, overwritten or deleted.
"""
import json
import os

import jax
import numpy as np
import orbax.checkpoint as ocp


FORMAT = 2  # 1: before spine v2 (flat GanState, data position in steps)


class CheckpointError(RuntimeError):
  """The latest checkpoint is unreadable or belongs to another model."""


def _model_difference(saved: dict, expected: dict) -> str:
  saved_model, expected_model = saved.get('model', {}), expected.get('model', {})
  differing = sorted(k for k in set(saved_model) | set(expected_model)
                     if saved_model.get(k) != expected_model.get(k))
  parts = [f'model.{k}: checkpoint {saved_model.get(k)!r} vs config {expected_model.get(k)!r}'
           for k in differing]
  for key in ('family', 'image_shape'):
    if saved.get(key) != expected.get(key):
      parts.append(f'{key}: checkpoint {saved.get(key)!r} vs config {expected.get(key)!r}')
  return '; '.join(parts)


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

  def save(self, step: int, state, data_position: int, phase: int = 0) -> None:
    """Starts an asynchronous save; the device arrays are copied before this returns.

    `data_position` counts the examples consumed; `phase` is the phase to resume in.
    """
    meta = {'step': step, 'data_position': data_position, 'phase': phase, 'format': FORMAT,
            **self.fingerprint}
    self.manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                    meta=ocp.args.JsonSave(meta)))

  def restore(self, target_state, step: int | None = None):
    """Returns (state, meta) of `step` (default: latest), or None if there is no checkpoint.

    `target_state` gives the structure, dtypes and shardings to restore into.
    """
    step = self.latest_step() if step is None else step
    if step is None:
      return None
    path = os.path.join(self.directory, str(step))
    steps = self.manager.all_steps()
    advice = (f'Move {path} out of {self.directory} to resume from the previous checkpoint '
              f'(steps present: {steps}), or train in a new --workdir.')
    try:
      meta = self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
      meta = meta['meta']
    except Exception as e:  # orbax raises many types for unreadable files
      raise CheckpointError(f'Checkpoint {path} is unreadable ({type(e).__name__}: '
                            f'{str(e)[:300]}). {advice}') from e
    if meta.get('format') != FORMAT:
      raise CheckpointError(
          f'Checkpoint {path} has format {meta.get("format", 1)}; this jaxgan reads format '
          f'{FORMAT} (spine v2: one NetworkState per network, data position in examples). '
          'Retrain in a new --workdir, or read it with a jaxgan checkout before spine v2.')
    difference = _model_difference(meta, self.fingerprint)
    if difference:
      raise CheckpointError(
          f'Checkpoint {path} was written by a different model ({difference}). Use a new '
          f'--workdir for this config, or the config saved in that workdir\'s config.json.')
    try:
      restored = self.manager.restore(
          step, args=ocp.args.Composite(state=ocp.args.StandardRestore(target_state)))
    except Exception as e:
      raise CheckpointError(f'Checkpoint {path} is unreadable ({type(e).__name__}: '
                            f'{str(e)[:300]}). {advice}') from e
    state = restored['state']
    if any(not _all_finite(x) for x in jax.tree.leaves(state)):
      raise CheckpointError(f'Checkpoint {path} holds non-finite values. {advice}')
    return state, meta

  def wait_until_finished(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.close()


def _all_finite(x) -> bool:
  if not hasattr(x, 'dtype') or not np.issubdtype(x.dtype, np.floating):
    return True
  return bool(jax.numpy.isfinite(x).all())
