"""Sample grids from a trained run's EMA generator.

  python -m jaxgan.sample --workdir=DIR --num=64 --out=grid.png
  python -m jaxgan.sample --workdir=DIR --interpolate --num=8 --frames=10 --out=interp.png
  python -m jaxgan.sample --workdir=DIR --quantize=int8 --out=grid_int8.png

A thin command line over jaxgan.inference.api: the model is rebuilt from DIR/config.json and
restored from DIR's latest checkpoint (or --step). --interpolate writes `num` rows, each a spherical
interpolation between two random latents (api.Model.interpolate).
"""
import os

from absl import app
from absl import flags

from jaxgan import config_lib
from jaxgan import console
from jaxgan.compression import quantize as quantize_lib
from jaxgan.data import images as image_lib
from jaxgan.inference import api
from jaxgan.training import checkpoints

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command line's flags, defined when it runs (not on import: tools import together)."""
  flags.DEFINE_string('workdir', None, 'Training directory (config.json + checkpoints).')
  flags.DEFINE_integer('num', 64, 'Images in the grid (rows with --interpolate).')
  flags.DEFINE_string('out', 'grid.png', 'Output PNG path.')
  flags.DEFINE_integer('seed', 0, 'Seed of the latents.')
  flags.DEFINE_integer('step', None, 'Checkpoint step (default: latest).')
  flags.DEFINE_bool('interpolate', False, 'Write latent interpolation strips.')
  flags.DEFINE_integer('frames', 10, 'Images per interpolation strip.')
  flags.DEFINE_enum('quantize', None, quantize_lib.MODES, 'Serve int8 weights '
                    '(jaxgan/compression/quantize.py); default float32.')
  flags.mark_flag_as_required('workdir')


def main(argv):
  console.start_command(argv)
  try:
    model = api.load(FLAGS.workdir, FLAGS.step, quantize=FLAGS.quantize)
  except checkpoints.CheckpointError as e:
    console.fatal(e, console.EXIT_RUN_ERROR)
  try:
    if FLAGS.interpolate:
      strips = model.interpolate(FLAGS.num, FLAGS.frames, seed=FLAGS.seed)
      grid = image_lib.make_grid(strips.reshape(-1, *strips.shape[2:]), columns=FLAGS.frames)
    else:
      grid = image_lib.make_grid(model.sample(FLAGS.num, seed=FLAGS.seed))
  except (config_lib.ConfigError, ValueError) as e:
    console.fatal(e, console.EXIT_CONFIG_ERROR)
  image_lib.save_png(grid, FLAGS.out)
  print(f'Wrote {os.path.abspath(FLAGS.out)} ({grid.shape[1]}x{grid.shape[0]}).')


if __name__ == '__main__':
  define_flags()
  app.run(main)
