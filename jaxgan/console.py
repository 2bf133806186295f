"""What the command-line tools share: their start (XLA flags, quiet library logs, no stray
arguments) and one-line errors."""
from typing import Sequence
import sys

from absl import logging

from jaxgan import platform

# Exit codes: the command line or the config is wrong (fix it and rerun), or the run failed
# (data, checkpoint or a diverged loss; the message says what to do).
EXIT_CONFIG_ERROR = 2
EXIT_RUN_ERROR = 1


class _QuietLibraries(logging.logging.Filter):
  """Drops the INFO chatter of orbax and TensorFlow's SavedModel writer (a line per file
  operation); warnings still show."""

  def filter(self, record) -> bool:
    return record.levelno > logging.logging.INFO or not any(
        library in record.pathname for library in ('orbax', 'tensorflow'))


def quiet_library_logs() -> None:
  logging.get_absl_handler().addFilter(_QuietLibraries())


def start_command(argv: Sequence[str] | None) -> None:
  """What every command line does first: the default XLA flags (before JAX starts), quiet
  library logs and, given its `argv`, a one-line error for arguments that are not flags."""
  quiet_library_logs()
  platform.use_default_xla_flags()
  if argv is not None and len(argv) > 1:
    fatal(f'unexpected arguments {list(argv[1:])}; flags are written --name=value.',
          EXIT_CONFIG_ERROR)


def fatal(message: str, exit_code: int) -> None:
  """Writes `FATAL message` as one line on stderr and exits: the user sees what to do, not a
  traceback."""
  stop(f'FATAL {message}', exit_code)


def stop(message: str, exit_code: int) -> None:
  """Writes `message` as one line on stderr and exits with `exit_code`."""
  sys.stderr.write(f'{" ".join(str(message).split())}\n')
  sys.stderr.flush()
  sys.exit(exit_code)
