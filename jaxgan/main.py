"""Command line entry point: `python -m jaxgan.main --config=configs/dcgan.py --workdir=DIR`.

Any config field can be overridden (`--config.train.num_steps=500`); an unknown field fails at
once with the valid names. Multi-host: pass --distributed (or set JAXGAN_DISTRIBUTED=1) to call
jax.distributed.initialize(), which reads the cluster from the environment or the flags below.

Errors the user can fix end the run with one `FATAL ...` line on stderr: exit code 2 for a bad
command line or config (found before any compute), 1 for a run that cannot go on (missing data,
an unreadable checkpoint, a diverged loss). Ctrl-C (SIGINT) or SIGTERM finishes the step, saves a
checkpoint at it and exits with 130 / 143 after one `stopped at step N; ...` line
(jaxgan/training/preemption.py); rerunning the command resumes.
"""
import os

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from jaxgan import config_lib
from jaxgan import console
from jaxgan.data import sources as data
from jaxgan.training import checkpoints
from jaxgan.training import preemption
from jaxgan.training import trainer as train

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command line's flags, defined when it runs (not on import: tools import together)."""
  config_flags.DEFINE_config_file('config', None, 'Path to a config file [:arg].',
                                  lock_config=True)
  flags.DEFINE_string('workdir', None, 'Directory for checkpoints, logs and samples.')
  flags.DEFINE_bool('distributed', os.environ.get('JAXGAN_DISTRIBUTED') == '1',
                    'Call jax.distributed.initialize() (multi-host runs).')
  flags.DEFINE_string('coordinator_address', None, 'host:port of process 0.')
  flags.DEFINE_integer('num_processes', None, 'Number of processes.')
  flags.DEFINE_integer('process_id', None, 'Index of this process.')
  flags.mark_flags_as_required(['config', 'workdir'])


parse_flags = console.parse_flags


def main(argv):
  console.start_command(argv)
  if FLAGS.distributed:
    # Cross-process collectives on CPU hosts (used by tests and CPU clusters; GPUs/TPUs ignore it).
    jax.config.update('jax_cpu_collectives_implementation', 'gloo')
    jax.distributed.initialize(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
  logging.info('Config %s', os.path.abspath(config_flags.get_config_filename(FLAGS['config'])))
  logging.info('JAX process %d/%d, local devices: %s', jax.process_index(), jax.process_count(),
               jax.local_devices())
  try:
    train.train_and_evaluate(FLAGS.config, FLAGS.workdir)
  except config_lib.ConfigError as e:
    console.fatal(f'config error: {e}', console.EXIT_CONFIG_ERROR)
  except (train.NonFiniteLossError, checkpoints.CheckpointError, data.DatasetError) as e:
    console.fatal(f'{type(e).__name__}: {e}', console.EXIT_RUN_ERROR)
  except preemption.TrainingStopped as e:
    console.stop(str(e), preemption.exit_code(e.signum))


if __name__ == '__main__':
  define_flags()
  app.run(main, flags_parser=parse_flags)
