"""Exports a trained run as a TensorFlow SavedModel (jaxgan/inference/saved_model.py).

  python -m jaxgan.export --workdir=runs/dcgan --out=export/dcgan [--step=N] [--quantize=int8]

With --quantize=int8 the SavedModel's kernels are int8 tf.Variables with float32 scales,
dequantized inside the graph (jaxgan/compression/quantize.py).
"""
import os

from absl import app
from absl import flags

from jaxgan import config_lib
from jaxgan import console
from jaxgan.compression import quantize as quantize_lib
from jaxgan.inference import api
from jaxgan.inference import saved_model
from jaxgan.training import checkpoints

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command line's flags, defined when it runs (not on import: tools import together)."""
  flags.DEFINE_string('workdir', None, 'Training directory (config.json + checkpoints).')
  flags.DEFINE_string('out', None, 'Folder to write the SavedModel in (new or empty).')
  flags.DEFINE_integer('step', None, 'Checkpoint step (default: latest).')
  flags.DEFINE_enum('quantize', None, quantize_lib.MODES, 'Export int8 weights '
                    '(jaxgan/compression/quantize.py); default float32.')
  flags.mark_flags_as_required(['workdir', 'out'])


def main(argv):
  console.start_command(argv)
  out = FLAGS.out
  try:
    saved_model.check_out_dir(out)
    model = api.load(FLAGS.workdir, FLAGS.step, quantize=FLAGS.quantize)
  except checkpoints.CheckpointError as e:
    console.fatal(e, console.EXIT_RUN_ERROR)
  except (config_lib.ConfigError, ValueError) as e:
    console.fatal(e, console.EXIT_CONFIG_ERROR)
  try:
    description = saved_model.export_model(model, out)
  except (config_lib.ConfigError, ValueError) as e:
    console.fatal(e, console.EXIT_CONFIG_ERROR)
  weights = description['weights']
  print(f'Wrote {os.path.abspath(out)}: signatures {sorted(description["signatures"])}, {weights["variables"]} '
        f'variables ({weights["bytes"] / 1e6:.2f} MB), step {description["step"]}, '
        f'{description["seconds"]:.1f} s.')


if __name__ == '__main__':
  define_flags()
  app.run(main)
