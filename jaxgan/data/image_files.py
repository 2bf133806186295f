"""Image files in and out of the command-line tools (jaxgan.translate, jaxgan.stylize): the
inputs named by a file or folder, the PNG written for each, reading at a run's channels, and
one error listing every unreadable file before any computation."""
import os

import numpy as np

from jaxgan import config_lib
from jaxgan.data import image_sets
from jaxgan.data import images as image_lib
from jaxgan.training import checkpoints


class ImageFileError(RuntimeError):
  """Input images that cannot be read."""


def image_files(input_path: str) -> list[str]:
  """The image file `input_path`, or the image files in the folder `input_path`, sorted."""
  if os.path.isdir(input_path):
    paths = [os.path.join(input_path, name) for name in sorted(os.listdir(input_path))
             if name.lower().endswith(image_lib.IMAGE_EXTENSIONS)]
    if not paths:
      raise config_lib.ConfigError(f'--input={input_path} holds no image files (extensions: '
                                   f'{", ".join(image_lib.IMAGE_EXTENSIONS)}).')
    return paths
  if not os.path.isfile(input_path):
    raise config_lib.ConfigError(f'--input={input_path} does not exist: pass an image file or '
                                 'a folder of them.')
  return [input_path]


def output_files(inputs: list[str], input_path: str, output_path: str) -> list[str]:
  """The PNG written for each input: into the folder `output_path`, or `output_path` itself
  for one input file given with a .png name."""
  if os.path.isdir(input_path) and os.path.isfile(output_path):
    raise config_lib.ConfigError(f'--output={output_path} is a file; a folder --input needs an '
                                 'output folder.')
  if os.path.isdir(input_path) or os.path.isdir(output_path) or output_path.endswith(os.sep):
    outputs = [os.path.join(output_path, os.path.splitext(os.path.basename(p))[0] + '.png')
               for p in inputs]
  elif output_path.lower().endswith('.png'):
    outputs = [output_path]
  else:
    raise config_lib.ConfigError(f'--output={output_path} is neither a folder (existing, or '
                                 f'ending in {os.sep}) nor a .png file.')
  if len(set(outputs)) < len(outputs):
    raise config_lib.ConfigError(f'Inputs in {input_path} share a file stem (e.g. a.jpg and '
                                 'a.png): their outputs would overwrite each other.')
  for source, target in zip(inputs, outputs):
    if os.path.exists(target) and os.path.samefile(source, target):
      raise config_lib.ConfigError(f'Writing {target} would overwrite the input: pass another '
                                   '--output.')
  return outputs


def read_image(path: str, channels: int) -> np.ndarray:
  """uint8 [h, w, channels] of an image file: images.read_image, converted to the run's
  channels by image_sets.to_channels."""
  return image_sets.to_channels(image_lib.read_image(path), channels)


def check_images(paths: list[str], channels: int) -> None:
  """An ImageFileError listing every file of `paths` that cannot be read."""
  unreadable = []
  for path in paths:
    try:
      read_image(path, channels)
    except image_lib.ImageReadError as e:  # names the file and says why
      unreadable.append(str(e).rstrip('.'))  # its sentence goes on in the message below
    except Exception as e:  # PIL raises many types for damaged or unknown files
      unreadable.append(f'{path} ({checkpoints.short_cause(e, 80)})')
  if unreadable:
    raise ImageFileError(f'Cannot read {len(unreadable)} of {len(paths)} images: '
                         f'{"; ".join(unreadable)}. Remove or fix them and rerun.')
