"""Progress lines for long host loops (sampling, Inception features, held-out passes).

An evaluation of thousands of images can run for many minutes; without a line the user cannot
tell a slow run from a hung one. Progress logs `done/total`, the rate and the ETA at most every
`interval_s` seconds, and one final line with the total time.
"""
import collections
import time
from typing import Callable

from absl import logging
import jax

INTERVAL_S = 10.0  # at most one line per this many seconds (plus the final one)
MAX_IN_FLIGHT = 2  # batches the host may dispatch ahead of the device


def _clock_text(seconds: float) -> str:
  seconds = int(round(seconds))
  return f'{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


class Progress:
  """Counts `total` items of one task; `update(done, pending)` logs when a line is due.

  `pending` (device arrays still being computed) bounds how far the host runs ahead: at most
  MAX_IN_FLIGHT batches are in flight, so memory stays bounded, the count is true and a line
  comes when it is due rather than after the device has drained a long queue. `clock` and `log`
  are injectable for tests.
  """

  def __init__(self, task: str, total: int, unit: str = 'images',
               interval_s: float | None = None, clock: Callable[[], float] = time.monotonic,
               log: Callable[..., None] = logging.info):
    self.task, self.total, self.unit = task, total, unit
    self.interval_s = INTERVAL_S if interval_s is None else interval_s
    self.clock, self.log = clock, log
    self.start = self.last = clock()
    self._in_flight = collections.deque()

  def update(self, done: int, pending=None) -> None:
    """Records that `done` of `total` items are dispatched; logs if a line is due."""
    if pending is not None:
      self._in_flight.append(pending)
      while len(self._in_flight) > MAX_IN_FLIGHT:
        jax.block_until_ready(self._in_flight.popleft())
    finished = done >= self.total
    if not finished and self.clock() - self.last < self.interval_s:
      return
    jax.block_until_ready(list(self._in_flight))
    self._in_flight.clear()
    now = self.clock()
    self.last = now
    elapsed = max(now - self.start, 1e-9)
    rate = done / elapsed
    if finished:
      self.log('%s: %d/%d %s in %s (%.1f %s/s)', self.task, done, self.total, self.unit,
               _clock_text(elapsed), rate, self.unit)
    else:
      eta = (self.total - done) / rate if rate > 0 else float('inf')
      self.log('%s: %d/%d %s, %.1f %s/s, ETA %s', self.task, done, self.total, self.unit, rate,
               self.unit, _clock_text(eta) if eta != float('inf') else '?')
