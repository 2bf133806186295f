"""What the command-line tools share: their start (XLA flags, quiet library logs, no stray
arguments) and one-line errors.

Quiet by default: no INFO lines from orbax, TensorFlow or JAX's probing for absent backends
(`Unable to initialize backend 'tpu'`), no TensorFlow start-up notices. `--verbosity=1` (absl's
flag, on every tool) shows them all, with DEBUG lines.
"""
from typing import Sequence
import os
import sys

from absl import flags
from absl import logging

from jaxgan import config_lib
from jaxgan import platform

# Exit codes: the command line or the config is wrong (fix it and rerun), or the run failed
# (data, checkpoint or a diverged loss; the message says what to do).
EXIT_CONFIG_ERROR = 2
EXIT_RUN_ERROR = 1


class _QuietLibraries(logging.logging.Filter):
  """Drops the INFO chatter of orbax and TensorFlow's SavedModel writer (a line per file
  operation) and JAX's lines about backends it did not find (`Unable to initialize backend
  'tpu'` on every machine without one); warnings still show."""

  def filter(self, record) -> bool:
    return record.levelno > logging.logging.INFO or not any(
        library in record.pathname
        for library in ('orbax', 'tensorflow', os.path.join('jax', '_src', 'xla_bridge.py')))


_QUIET_LIBRARIES = _QuietLibraries()


def quiet_library_logs() -> None:
  """Quiet logs unless --verbosity asks for DEBUG lines (then everything shows)."""
  if logging.get_verbosity() >= logging.DEBUG:
    logging.get_absl_handler().removeFilter(_QUIET_LIBRARIES)
  else:
    logging.get_absl_handler().addFilter(_QUIET_LIBRARIES)
    platform.quiet_start_up()


def parse_flags(argv: Sequence[str]) -> list[str]:
  """absl's flag parsing for a tool with a --config file: the file is found (from the current
  directory or the repository: config_lib.find_config_file) and loaded, and its `--config.*`
  overrides checked against its fields, before absl parses them, so each mistake is one FATAL
  line rather than a traceback from inside absl."""
  try:
    return flags.FLAGS(config_lib.check_config_flags(argv))
  except config_lib.ConfigError as e:
    fatal(f'config error: {e}', EXIT_CONFIG_ERROR)
  except flags.Error as e:
    fatal(f'flag error: {e} (see --helpshort)', EXIT_CONFIG_ERROR)


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


def interrupted(what_was_written: str) -> None:
  """Ctrl-C in a tool that writes only whole files: one line saying what is there, and exit
  code 130 (128 + SIGINT), not a traceback."""
  stop(f'interrupted; {what_was_written}', 130)


def stop(message: str, exit_code: int) -> None:
  """Writes `message` as one line on stderr and exits with `exit_code`."""
  sys.stderr.write(f'{" ".join(str(message).split())}\n')
  sys.stderr.flush()
  sys.exit(exit_code)
