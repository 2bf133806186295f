"""Sample grids from a trained run's EMA generator.

  python -m jaxgan.sample --workdir=DIR --num=64 --out=grid.png
  python -m jaxgan.sample --workdir=DIR --interpolate --num=8 --frames=10 --out=interp.png

A thin command line over jaxgan.inference.api: the model is rebuilt from DIR/config.json and
restored from DIR's latest checkpoint (or --step). --interpolate writes `num` rows, each a spherical
interpolation between two random latents (api.Model.interpolate).
"""
from absl import app
from absl import flags

from jaxgan.inference import api
from jaxgan.training import checkpoints
from jaxgan import config_lib
from jaxgan import console
from jaxgan.data import images as image_lib

_WORKDIR = flags.DEFINE_string('workdir', None, 'Training directory (config.json + checkpoints).')
_NUM = flags.DEFINE_integer('num', 64, 'Images in the grid (rows with --interpolate).')
_OUT = flags.DEFINE_string('out', 'grid.png', 'Output PNG path.')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of the latents.')
_STEP = flags.DEFINE_integer('step', None, 'Checkpoint step (default: latest).')
_INTERPOLATE = flags.DEFINE_bool('interpolate', False, 'Write latent interpolation strips.')
_FRAMES = flags.DEFINE_integer('frames', 10, 'Images per interpolation strip.')
flags.mark_flag_as_required('workdir')


def main(argv):
  console.start_command(argv)
  try:
    model = api.load(_WORKDIR.value, _STEP.value)
  except checkpoints.CheckpointError as e:
    console.fatal(e, console.EXIT_RUN_ERROR)
  try:
    if _INTERPOLATE.value:
      strips = model.interpolate(_NUM.value, _FRAMES.value, seed=_SEED.value)
      grid = image_lib.make_grid(strips.reshape(-1, *strips.shape[2:]), columns=_FRAMES.value)
    else:
      grid = image_lib.make_grid(model.sample(_NUM.value, seed=_SEED.value))
  except (config_lib.ConfigError, ValueError) as e:
    console.fatal(e, console.EXIT_CONFIG_ERROR)
  image_lib.save_png(grid, _OUT.value)
  print(f'Wrote {_OUT.value} ({grid.shape[1]}x{grid.shape[0]}).')


if __name__ == '__main__':
  app.run(main)
