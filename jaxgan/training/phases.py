"""Where a run stands: train step <-> phase <-> data position (in examples).

Phases run one after another; phase k covers the updates start_k + 1 .. start_k + num_steps_k
with batches of batch_size_k examples. The data position after `step` updates is the number of
examples consumed, so a resumed run reads exactly the examples an uninterrupted one reads even
when the batch size changes from one phase to the next.
"""
from typing import Sequence

from jaxgan import config_lib
from jaxgan.families.base import Phase


class PhaseSchedule:
  """The cumulative step and example counts of a sequence of phases."""

  def __init__(self, phases: Sequence[Phase], num_devices: int = 1, microbatches: int = 1):
    if not phases:
      raise config_lib.ConfigError('A family declared no phases.')
    for index, phase in enumerate(phases):
      for field in ('num_steps', 'batch_size', 'image_size'):
        value = getattr(phase, field)
        if not (isinstance(value, int) and value > 0):
          raise config_lib.ConfigError(
              f'Phase {index} ({phase.name}): {field} must be a positive integer, got {value!r}.')
      if phase.batch_size % num_devices:
        raise config_lib.ConfigError(
            f'Phase {index} ({phase.name}): batch size {phase.batch_size} is not divisible by '
            f'the {num_devices} devices; use a multiple of {num_devices}.')
      if phase.batch_size % microbatches:
        raise config_lib.ConfigError(
            f'Phase {index} ({phase.name}): batch size {phase.batch_size} is not divisible by '
            f'config.train.microbatches={microbatches}.')
    self.phases = tuple(phases)
    self.starts = [0]
    self.start_positions = [0]
    for phase in self.phases:
      self.starts.append(self.starts[-1] + phase.num_steps)
      self.start_positions.append(self.start_positions[-1] + phase.num_steps * phase.batch_size)

  @property
  def num_steps(self) -> int:
    return self.starts[-1]

  def phase_index(self, step: int) -> int:
    """The phase of update step + 1 (the last phase once training is done)."""
    for index in range(len(self.phases)):
      if step < self.starts[index + 1]:
        return index
    return len(self.phases) - 1

  def position(self, step: int) -> int:
    """Examples consumed by the first `step` updates."""
    index = self.phase_index(step)
    return (self.start_positions[index]
            + (step - self.starts[index]) * self.phases[index].batch_size)

  def end(self, index: int) -> int:
    """The step count at the end of phase `index`."""
    return self.starts[index + 1]
