"""Graceful stops: SIGINT (Ctrl-C) or SIGTERM (how a scheduler pre-empts a job) during training
ends the current step, saves a checkpoint at it and stops; a second signal exits at once.

One process: Python handlers record the signal and the trainer stops after the step it is
running. Several processes (jax.distributed): every process must save the same step, so the
stop step comes from JAX's pre-emption sync manager (multihost_utils.
reached_preemption_sync_point, what orbax's `reached_preemption` and t5x use): a SIGTERM to any
process is propagated to all and they agree on the step after the furthest one reached. Its
SIGTERM handler lives in C++ and is left in place; Ctrl-C is forwarded to it as a SIGTERM.
The handlers are installed only while the trainer's loop runs (install() .. restore()), so code
that calls the trainer as a library keeps its own handling outside training.
"""
import os
import signal
import sys
import threading

from absl import logging
import jax
from jax._src import distributed
from jax.experimental import multihost_utils

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_code(signum: int) -> int:
  """The shell's convention for a process ended by `signum`: 128 + its number (130, 143)."""
  return 128 + signum


class TrainingStopped(Exception):
  """Training stopped on a signal after saving a checkpoint at `step`."""

  def __init__(self, step: int, checkpoint: str, signum: int):
    super().__init__(f'stopped at step {step}; checkpoint written to {checkpoint}; '
                     'rerun the same command to resume')
    self.step, self.checkpoint, self.signum = step, checkpoint, signum


class StopOnSignal:
  """stop = StopOnSignal().install(); after every step `if stop.requested(step):` save and
  stop; stop.restore() at the end (in a `finally`). Every process asks after the same steps."""

  def __init__(self):
    self.signum = None
    self._previous = {}
    self._multiprocess = jax.process_count() > 1

  def install(self) -> 'StopOnSignal':
    if threading.current_thread() is not threading.main_thread():
      return self  # signal handlers can only be set from the main thread
    if self._multiprocess and distributed.global_state.preemption_sync_manager is None:
      logging.warning('JAX pre-emption service is off (jax_enable_preemption_service): a '
                      'signal stops this multi-process run without a checkpoint.')
      return self
    for signum in (signal.SIGINT,) if self._multiprocess else _SIGNALS:
      self._previous[signum] = signal.signal(signum, self._handle)
    return self

  def restore(self) -> None:
    for signum, handler in self._previous.items():
      signal.signal(signum, handler)
    self._previous.clear()

  def _handle(self, signum, frame) -> None:
    del frame
    if self.signum is not None:
      sys.stderr.write(f'{signal.Signals(signum).name} again: exiting now, without a '
                       'checkpoint of this step.\n')
      sys.stderr.flush()
      os._exit(exit_code(signum))  # pylint: disable=protected-access
    self.signum = signum
    logging.warning('%s: stopping after this step and saving a checkpoint (%s again exits at '
                    'once).', signal.Signals(signum).name, signal.Signals(signum).name)
    if self._multiprocess:  # let JAX's pre-emption notifier tell every process
      os.kill(os.getpid(), signal.SIGTERM)

  def requested(self, step: int) -> bool:
    """Whether to save and stop after `step` (the same answer on every process)."""
    if self._multiprocess:
      if not multihost_utils.reached_preemption_sync_point(step):
        return False
      if self.signum is None:  # the notice came from the scheduler or another process
        self.signum = signal.SIGTERM
      return True
    return self.signum is not None
