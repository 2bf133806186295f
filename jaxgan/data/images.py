"""Images: the one conversion between uint8 pixels and the [-1, 1] floats networks see (both
ways), the one image-file reader, float images in [-1, 1] -> one uint8 mosaic, and PNG writing."""
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image
from PIL import ImageOps

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp', '.ppm', '.pgm')
_GRAY_MODES = ('L', '1', 'LA', 'La')


class ImageReadError(ValueError):
  """An image file cannot be read, or holds pixels of no known 8-bit meaning."""


def read_image(path: str) -> np.ndarray:
  """uint8 [H, W, C] of an image file, C = 1 (greyscale) or 3 (colour), upright.

  PIL reads it and turns it by its EXIF orientation. Greyscale modes (L, 1, LA) stay one channel
  (alpha dropped); 16-bit greyscale (I;16) becomes round(v / 257) (PIL's own conversion clips at
  255); 32-bit integer and float images are refused (their range is unknown); every other mode
  (RGB, RGBA, P, CMYK, ...) becomes RGB as PIL converts it (alpha dropped, palettes resolved).
  """
  try:
    with Image.open(path) as image:
      image = ImageOps.exif_transpose(image)
      image.load()
  except OSError as e:  # missing, damaged or not an image (PIL's message repeats the path)
    raise ImageReadError(f'{path} is not an image file PIL can read ({type(e).__name__}).'
                         ) from e
  if image.mode.startswith('I;16'):
    array = np.round(np.asarray(image, np.float64) / 257).astype(np.uint8)
  elif image.mode in ('I', 'F'):
    raise ImageReadError(f'{path} has 32-bit {image.mode} pixels of unknown range; save it as an '
                         '8-bit (or 16-bit greyscale) image.')
  else:
    array = np.asarray(image.convert('L' if image.mode in _GRAY_MODES else 'RGB'))
  return array[..., None] if array.ndim == 2 else array


_HALF_RANGE = 127.5  # pixel k of [0, 255] is the float k / _HALF_RANGE - 1 of [-1, 1]
UINT8_FORMULA = (f'clip(round_half_to_even((x + 1) * {_HALF_RANGE}), 0, 255) of the [-1, 1] '
                 'output')


def normalize_images(pixels):
  """uint8 (or integer) pixels [0, 255] -> float32 [-1, 1], the range generators produce
  (tanh). numpy arrays stay numpy, jax arrays (also inside jit) stay jax."""
  return pixels.astype(np.float32) / _HALF_RANGE - 1.0


def to_uint8(images):
  """[-1, 1] floats -> uint8 [0, 255]: UINT8_FORMULA, i.e. rounded to the nearest level (half
  to even, as numpy and XLA round) and clipped; the inverse of normalize_images, and what a saved
  PNG holds. A jax array (also a tracer inside jit) gives a jax array, anything else numpy."""
  xp = jnp if isinstance(images, jax.Array) else np
  scaled = (xp.asarray(images, xp.float32) + 1.0) * _HALF_RANGE
  return xp.clip(xp.round(scaled), 0, 255).astype(xp.uint8)


def make_grid(images: np.ndarray, columns: int | None = None, padding: int = 2) -> np.ndarray:
  """Tiles uint8 images [N, H, W, C] into one [rows*(H+p)+p, cols*(W+p)+p, C] array."""
  num, height, width, channels = images.shape
  columns = columns or math.ceil(math.sqrt(num))
  rows = math.ceil(num / columns)
  grid = np.zeros((rows * (height + padding) + padding, columns * (width + padding) + padding,
                   channels), np.uint8)
  for i, image in enumerate(images):
    top = padding + (i // columns) * (height + padding)
    left = padding + (i % columns) * (width + padding)
    grid[top:top + height, left:left + width] = image
  return grid


def save_png(image: np.ndarray, path: str) -> None:
  """Writes a uint8 [H, W, C] image (C in 1, 3) atomically."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
  tmp = path + '.tmp.png'
  pil.save(tmp)
  os.replace(tmp, path)
