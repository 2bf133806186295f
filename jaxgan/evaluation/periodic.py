"""The trainer's evaluation: config.eval's evaluators every `every_steps`, with a best checkpoint.

The checkpoint whose `config.eval.best_metric` is best by `best_mode` ('min' or 'max') is kept
in workdir/checkpoints_best, apart from the regular rotating checkpoints; every results.json
entry says in 'selected_on' which metric and split choose it (evaluation.selection). The best
value so far is read back from results.json on resume, so a resumed run keeps the same best
checkpoint.
"""
import math
import os
import time

from absl import logging
import jax

from jaxgan import evaluation
from jaxgan.evaluation import results as results_lib
from jaxgan.training import checkpoints


class PeriodicEvaluation:
  """Runs config.eval's evaluators, logs and records the results, keeps the best checkpoint."""

  def __init__(self, config, family, workdir, writer, mesh):
    names = evaluation.check_config(config, family)
    self.evaluators = evaluation.make_evaluators(config, family, mesh, names)
    self.selection = evaluation.selection(config, names)
    self.every_steps, self.workdir, self.writer = config.eval.every_steps, workdir, writer
    self.best_metric, self.best_mode = config.eval.best_metric, config.eval.best_mode
    self.best_directory = os.path.join(workdir, 'checkpoints_best')
    self.fingerprint = family.fingerprint()
    self.best, self.best_value = None, None
    if self.best_metric and os.path.isdir(self.best_directory):  # resuming: nothing is written
      best_step = self._best_checkpointer().latest_step()
      if best_step is not None:
        entry = results_lib.read_results(workdir).get(best_step, {})
        self.best_value = entry.get('metrics', {}).get(self.best_metric)

  def _best_checkpointer(self) -> checkpoints.Checkpointer:
    """workdir/checkpoints_best, opened (and created) when first needed."""
    if self.best is None:
      self.best = checkpoints.Checkpointer(self.best_directory, self.fingerprint, keep=1)
    return self.best

  def is_better(self, value: float) -> bool:
    """Whether `value` of best_metric beats the best so far (NaN never does)."""
    if math.isnan(value):
      return False
    if self.best_value is None:
      return True
    return value < self.best_value if self.best_mode == 'min' else value > self.best_value

  def __call__(self, state, step: int, data_position: int, phase: int = 0,
               trained_phase: dict | None = None) -> None:
    """Evaluates `state` after `step` updates; the trainer's `data_position` (examples read) and
    `phase` go with the best checkpoint, as with every checkpoint. `trained_phase` (the phase of
    the last update: index, name, image size) is recorded with the results."""
    logging.info('eval step %d: running %s', step, ', '.join(self.evaluators))
    start = time.perf_counter()
    results, protocol = evaluation.evaluate(self.evaluators, state, step)
    self.writer.write_scalars(step, {f'eval/{k}': v for k, v in results.items()})
    logging.info('eval step %d: %s', step, ' '.join(f'{k}={v:.4g}' for k, v in results.items()))
    if self.best_metric and self.is_better(results[self.best_metric]):
      self.best_value = results[self.best_metric]
      self._best_checkpointer().save(step, state, data_position=data_position, phase=phase)
    if jax.process_index() == 0:
      results_lib.record_results(self.workdir, step, results, protocol, source='train',
                                 phase=trained_phase, seconds=time.perf_counter() - start,
                                 selected_on=self.selection)

  def close(self) -> None:
    if self.best is not None:
      self.best.wait_until_finished()
      self.best.close()
