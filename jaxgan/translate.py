"""Applies a trained image-to-image run (super-resolution, pix2pix, inpainting, unpaired
translation) to image files, with its EMA weights: a command line over jaxgan.inference.api
(reading, converting and writing files; jaxgan.load(workdir).translate does the rest).

  python -m jaxgan.translate --workdir=DIR --input=photo.jpg --output=photo_x4.png
  python -m jaxgan.translate --workdir=DIR --input=lr_folder --output=sr_folder [--step=N]
  python -m jaxgan.translate --workdir=GAN_DIR --interpolate_with=PSNR_DIR --alpha=0.8 ...
  python -m jaxgan.translate --workdir=INPAINT_DIR --input=photo.png --mask=hole.png ...
  python -m jaxgan.translate --workdir=CYCLEGAN_DIR --direction=b2a --input=zebra.jpg ...

Unpaired (CycleGAN, DiscoGAN) runs translate domain A to B (--direction=a2b, the default) or
B to A (b2a); the inputs are read with the source domain's channels.

Inpainting runs take a --mask per image (a file for one input, a folder of masks with the
inputs' file stems for a folder; read as greyscale, >= 128 = missing, i.e. white = missing) or,
without --mask, draw the config's mask (jaxgan/data/masks.py) keyed by the input's position in the
sorted list. Known pixels are kept exactly; the whole image is one call (the fill needs its
context; a context encoder takes only its training size or, trained on padded images, any
smaller size, padded as in training and cropped back).

--input is an image file or a folder (its image files, images.IMAGE_EXTENSIONS, not
recursive); --output is a .png file for one input (or a folder to write it into) and a folder
(created) for a folder: the same file stems, as PNG. Images are read by images.read_image
(upright by their EXIF orientation; alpha dropped; palettes resolved; 16-bit greyscale as
round(v / 257); 32-bit refused) and converted to the run's channels (config.data.channels):
for a 3-channel model greyscale is repeated to RGB; for a 1-channel model colour becomes PIL's
luma L = 0.299 R + 0.587 G + 0.114 B. Outputs are uint8, as images.to_uint8 quantizes (rounded to
the nearest level, clipped to [0, 255]).

Large images are processed in overlapping tiles of at most --tile x --tile input pixels
(jaxgan/inference/tiling.py), so memory stays bounded; with --tile_overlap at least the network's
receptive field radius the output equals the untiled one. Networks with instance norm (the family's
`tileable` is False: pix2pix and CycleGAN as configured, fast style) normalize by the whole image's
statistics, so they always take the whole image and --tile is ignored. --alpha with
--interpolate_with uses (1 - alpha) * that run's weights + alpha * --workdir's (ESRGAN's network
interpolation, runs.interpolate_states). Everything is checked before any computation or any file is
written; each output is written under a temporary name in its folder and then renamed.
"""
import os

from absl import app
from absl import flags
import numpy as np

from jaxgan import config_lib
from jaxgan import console
from jaxgan.data import image_files as files_lib
from jaxgan.data import images as image_lib
from jaxgan import families
from jaxgan.families import base
from jaxgan.inference import api
from jaxgan.inference import runs
from jaxgan.training import checkpoints

def _check_options(tile: int, overlap: int, alpha, interpolate_with) -> None:
  if tile < 0 or overlap < 0 or (tile and tile <= 2 * overlap):
    raise config_lib.ConfigError(f'--tile={tile} --tile_overlap={overlap}: pass --tile=0 (no '
                                 'tiling) or a tile larger than twice a non-negative overlap.')
  if (alpha is None) != (interpolate_with is None):
    raise config_lib.ConfigError('--alpha and --interpolate_with go together: pass both (network '
                                 'interpolation) or neither.')
  if alpha is not None and not 0 <= alpha <= 1:
    raise config_lib.ConfigError(f'--alpha={alpha} is outside [0, 1].')


def _check_run(workdir: str, interpolate_with: str | None, mask: str | None,
               direction: str | None):
  """The run's family (no checkpoint restored): it must translate or inpaint; an interpolation
  partner must be a run of the same family."""
  config = runs.load_config(workdir)
  family = families.make(config)
  if not base.has(family, 'inpaint'):
    base.require(family, 'translate', 'jaxgan.translate')
  for option, value, capability, kind in (('--mask', mask, 'inpaint', 'inpainting'),
                                          ('--direction', direction, 'bidirectional',
                                           'unpaired translation')):
    if value is not None and not base.has(family, capability):
      one_way = (', which translates one way only: leave --direction out'
                 if capability == 'bidirectional' else '')
      raise config_lib.ConfigError(f'{option} is for {kind} runs; {workdir} is a '
                                   f'{config.family!r} run{one_way}.')
  if interpolate_with is not None:
    other = runs.load_config(interpolate_with).family
    if other != config.family:
      raise config_lib.ConfigError(f'Cannot interpolate a {config.family!r} run with a {other!r} '
                                   f'run ({interpolate_with}): pass a run of the same model.')
  return family


def mask_files(inputs: list[str], input_path: str, mask_path: str) -> list[str]:
  """The mask of each input: `mask_path` itself, or the file of its stem in that folder."""
  if not os.path.isdir(mask_path):
    if os.path.isdir(input_path) or not os.path.isfile(mask_path):
      raise config_lib.ConfigError(f'--mask={mask_path}: pass a mask file for one input image or '
                                   'a folder of masks named like the inputs for a folder.')
    return [mask_path]
  by_stem = {os.path.splitext(name)[0]: os.path.join(mask_path, name)
             for name in sorted(os.listdir(mask_path))
             if name.lower().endswith(image_lib.IMAGE_EXTENSIONS)}
  stems = [os.path.splitext(os.path.basename(p))[0] for p in inputs]
  missing = [stem for stem in stems if stem not in by_stem]
  if missing:
    raise config_lib.ConfigError(f'--mask={mask_path} has no mask for {missing[:5]}: name each '
                                 'mask like its input (any image extension).')
  return [by_stem[stem] for stem in stems]


def _masks(family, inputs: list[str], masks: list[str] | None, channels: int) -> list:
  """uint8 [h, w, 1] masks (1 = missing) of every input, checked against its image's size."""
  from jaxgan.data import masks as masks_lib  # pylint: disable=g-import-not-at-top
  files_lib.check_images(masks or [], 1)
  generate = masks_lib.make(family.config.data.degradation.mask)
  result = []
  for i, path in enumerate(inputs):
    height, width = files_lib.read_image(path, channels).shape[:2]
    try:
      family.check_image_size(height, width)
    except ValueError as e:
      raise config_lib.ConfigError(f'{path}: {e}') from None
    if masks is None:
      result.append(generate(np.array([i]), height, width)[0])
      continue
    mask = (files_lib.read_image(masks[i], 1) >= 128).astype(np.uint8)
    if mask.shape[:2] != (height, width):
      raise config_lib.ConfigError(f'Mask {masks[i]} is {mask.shape[1]}x{mask.shape[0]}, its '
                                   f'image {path} {width}x{height}: they must match.')
    result.append(mask)
  return result


def translate_files(workdir: str, input_path: str, output_path: str, step: int | None = None,
                    tile: int = 512, overlap: int = 32, alpha: float | None = None,
                    interpolate_with: str | None = None, mask_path: str | None = None,
                    direction: str | None = None) -> list[str]:
  """Translates (or inpaints) the image(s) at `input_path` with the run in `workdir` (see the
  module docstring); returns the paths written."""
  _check_options(tile, overlap, alpha, interpolate_with)
  inputs = files_lib.image_files(input_path)
  outputs = files_lib.output_files(inputs, input_path, output_path)
  family = _check_run(workdir, interpolate_with, mask_path, direction)
  channels = api.input_channels(family, direction)
  if channels not in (1, 3):
    raise config_lib.ConfigError(f'This run\'s inputs have {channels} channels: translate reads '
                                 'images as grayscale (1) or RGB (3); apply it from Python '
                                 '(jaxgan.load(workdir).translate).')
  files_lib.check_images(inputs, channels)
  masks = None
  if base.has(family, 'inpaint'):
    if interpolate_with is not None:
      raise config_lib.ConfigError('--interpolate_with is not supported for inpainting runs.')
    masks = _masks(family, inputs, None if mask_path is None else mask_files(
        inputs, input_path, mask_path), channels)
  model = api.load(workdir, step, interpolate_with=interpolate_with, alpha=alpha)
  for i, (source, target) in enumerate(zip(inputs, outputs)):
    image = files_lib.read_image(source, channels)
    if masks is None:
      output = model.translate(image, direction, tile, overlap)
    else:
      output = model.inpaint(image, masks[i])
    image_lib.save_png(output, target)
    print(f'{os.path.basename(source)}: {image.shape[1]}x{image.shape[0]} -> '
          f'{output.shape[1]}x{output.shape[0]}', flush=True)
  mixed = f' (alpha {alpha} with {interpolate_with})' if interpolate_with else ''
  print(f'Translated {len(inputs)} image{"s" * (len(inputs) > 1)} with {workdir} step '
        f'{model.step}{mixed} into {os.path.abspath(output_path)}.')
  return outputs


FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command line's flags, defined when it runs (not on import: tools import together)."""
  flags.DEFINE_string('workdir', None, 'Training directory (config.json + checkpoints).')
  flags.DEFINE_string('input', None, 'An image file or a folder of image files.')
  flags.DEFINE_string('output', None, 'A .png file (one input) or a folder.')
  flags.DEFINE_integer('step', None, 'Checkpoint step (default: latest).')
  flags.DEFINE_integer('tile', 512, 'Largest tile side in input pixels; 0: no tiling.')
  flags.DEFINE_integer('tile_overlap', 32, 'Input pixels a tile reaches beyond '
                       'its kept part (>= the receptive field radius: exact).')
  flags.DEFINE_float('alpha', None, 'Network interpolation weight of --workdir in [0, 1].')
  flags.DEFINE_string('interpolate_with', None,
                      'Run whose weights get 1 - alpha (e.g. the PSNR run).')
  flags.DEFINE_string('mask', None, 'Inpainting: a mask file or folder (white = missing); '
                      "default: the config's mask generator.")
  flags.DEFINE_enum('direction', None, ['a2b', 'b2a'],
                    'Unpaired runs: A -> B (default) or B -> A.')
  flags.mark_flags_as_required(['workdir', 'input', 'output'])


def main(argv):
  console.start_command(argv)
  try:
    translate_files(FLAGS.workdir, FLAGS.input, FLAGS.output, FLAGS.step, FLAGS.tile,
                    FLAGS.tile_overlap, FLAGS.alpha, FLAGS.interpolate_with, FLAGS.mask,
                    FLAGS.direction)
  except config_lib.ConfigError as e:
    console.fatal(e, console.EXIT_CONFIG_ERROR)
  except (checkpoints.CheckpointError, files_lib.ImageFileError) as e:
    console.fatal(e, console.EXIT_RUN_ERROR)


if __name__ == '__main__':
  define_flags()
  app.run(main)
