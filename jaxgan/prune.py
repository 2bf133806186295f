"""Structured channel pruning of a trained run's generator into a new run.

  python -m jaxgan.prune --workdir=RUN --out=NEW --keep=0.5 [--criterion=l1|bn_scale] [--step=N]

A thin command line over jaxgan.compression.pruning: NEW is a training directory whose generator
has round(keep * C) of the C channels of each prunable layer (physically smaller arrays, config
widths updated), checkpointed at RUN's step. It loads with jaxgan.load and fine-tunes with
  python -m jaxgan.main --config=NEW/config.py --workdir=NEW --config.train.num_steps=M
where M counts on from RUN's step (NEW/config.py reads NEW/config.json).
"""
import os

from absl import app
from absl import flags

from jaxgan import config_lib
from jaxgan import console
from jaxgan.compression import pruning
from jaxgan.training import checkpoints

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command line's flags, defined when it runs (not on import: tools import together)."""
  flags.DEFINE_string('workdir', None, 'Training directory to prune (config.json + checkpoints).')
  flags.DEFINE_string('out', None, 'New directory for the pruned run (absent or empty).')
  flags.DEFINE_float('keep', None, "Fraction of each prunable layer's channels to keep, in (0, 1].")
  flags.DEFINE_enum('criterion', 'l1', pruning.CRITERIA,
                    'Channel ranking: L1 norm of the kernel slice, or |BatchNorm scale|.')
  flags.DEFINE_integer('step', None, 'Checkpoint step to prune (default: latest).')
  flags.mark_flags_as_required(['workdir', 'out', 'keep'])


def _cost_line(name: str, found: dict | None) -> str:
  if found is None:
    return f'{name}: no fixed per-image cost'
  return (f'{name}: {found["parameters"]:,} parameters, '
          f'{found["macs_per_image"] / 1e6:.2f} M MACs per image ({found["function"]})')


def main(argv):
  console.start_command(argv)
  try:
    record = pruning.prune_run(FLAGS.workdir, FLAGS.out, FLAGS.keep, FLAGS.criterion, FLAGS.step)
  except config_lib.ConfigError as e:
    console.fatal(f'config error: {e}', console.EXIT_CONFIG_ERROR)
  except checkpoints.CheckpointError as e:
    console.fatal(f'CheckpointError: {e}', console.EXIT_RUN_ERROR)
  widths = ', '.join(f'{name} {before}->{after}'
                     for name, (before, after) in record['widths'].items())
  print(f'Pruned {" and ".join(record["kept"])} of {FLAGS.workdir} (step {record["step"]}) by '
        f'{FLAGS.criterion}, keep {FLAGS.keep:g}: {widths}')
  print(_cost_line('Before', record['cost_before']))
  print(_cost_line('After', record['cost_after']))
  print(f'Wrote {FLAGS.out}; fine-tune with: python -m jaxgan.main '
        f'--config={os.path.join(FLAGS.out, "config.py")} --workdir={FLAGS.out} '
        f'--config.train.num_steps={record["step"]}+N')


if __name__ == '__main__':
  define_flags()
  app.run(main)
