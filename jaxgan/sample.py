"""Sample grids from a trained run's EMA generator.

  python -m jaxgan.sample --workdir=DIR --num=64 --out=grid.png
  python -m jaxgan.sample --workdir=DIR --interpolate --num=8 --frames=10 --out=interp.png

The model is rebuilt from DIR/config.json and restored from DIR's latest checkpoint (or --step).
--interpolate writes `num` rows, each a spherical interpolation between two random latents.
"""
from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import checkpoints
from jaxgan import config_lib
from jaxgan import console
from jaxgan import images as image_lib
from jaxgan import platform
from jaxgan import runs
from jaxgan.families import base

_WORKDIR = flags.DEFINE_string('workdir', None, 'Training directory (config.json + checkpoints).')
_NUM = flags.DEFINE_integer('num', 64, 'Images in the grid (rows with --interpolate).')
_OUT = flags.DEFINE_string('out', 'grid.png', 'Output PNG path.')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of the latents.')
_STEP = flags.DEFINE_integer('step', None, 'Checkpoint step (default: latest).')
_INTERPOLATE = flags.DEFINE_bool('interpolate', False, 'Write latent interpolation strips.')
_FRAMES = flags.DEFINE_integer('frames', 10, 'Images per interpolation strip.')
flags.mark_flag_as_required('workdir')


def slerp(a: jax.Array, b: jax.Array, t: jax.Array) -> jax.Array:
  """Spherical interpolation between latent batches a, b [N, D] at fractions t [T] -> [N, T, D]."""
  a_unit = a / jnp.linalg.norm(a, axis=-1, keepdims=True)
  b_unit = b / jnp.linalg.norm(b, axis=-1, keepdims=True)
  omega = jnp.arccos(jnp.clip(jnp.sum(a_unit * b_unit, -1), -1.0, 1.0))[:, None, None]
  t = t[None, :, None]
  sin_omega = jnp.sin(omega)
  safe = sin_omega > 1e-6
  weight_a = jnp.where(safe, jnp.sin((1 - t) * omega) / jnp.where(safe, sin_omega, 1.0), 1 - t)
  weight_b = jnp.where(safe, jnp.sin(t * omega) / jnp.where(safe, sin_omega, 1.0), t)
  return weight_a * a[:, None] + weight_b * b[:, None]


def interpolation_grid(family, state, rng, rows: int, frames: int) -> np.ndarray:
  base.require(family, 'generate', '--interpolate (a latent space)')
  start_key, end_key = jax.random.split(rng)
  shape = (rows, family.latent_dim)
  latents = slerp(jax.random.normal(start_key, shape), jax.random.normal(end_key, shape),
                  jnp.linspace(0.0, 1.0, frames))
  generated = jax.jit(family.generate)(state, latents.reshape(rows * frames, -1))
  return image_lib.make_grid(image_lib.to_uint8(generated), columns=frames)


def main(argv):
  del argv
  console.quiet_library_logs()
  platform.use_default_xla_flags()
  try:
    _, family, state = runs.load_run(_WORKDIR.value, _STEP.value)
  except checkpoints.CheckpointError as e:
    console.fatal(e, console.EXIT_RUN_ERROR)
  try:
    base.require(family, 'generate' if _INTERPOLATE.value else 'sample', 'jaxgan.sample')
  except config_lib.ConfigError as e:
    console.fatal(e, console.EXIT_CONFIG_ERROR)
  rng = jax.random.key(_SEED.value)
  if _INTERPOLATE.value:
    grid = interpolation_grid(family, state, rng, _NUM.value, _FRAMES.value)
  else:
    samples = jax.jit(family.sample, static_argnums=2)(state, rng, _NUM.value)
    grid = image_lib.make_grid(image_lib.to_uint8(samples))
  image_lib.save_png(grid, _OUT.value)
  print(f'Wrote {_OUT.value} ({grid.shape[1]}x{grid.shape[0]}).')


if __name__ == '__main__':
  app.run(main)
