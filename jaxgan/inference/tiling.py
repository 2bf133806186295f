"""Applying an image-to-image network to an image of any size in overlapping tiles.

Memory then stays bounded by the tile, not the image: out-of-memory on large inputs is the most
common complaint of ESRGAN's users, and Real-ESRGAN's `tile_process` (Wang et al. 2021,
arXiv:2107.10833) answers it the same way. Each tile reaches at least `overlap` input pixels
beyond the part of it that is kept wherever the image continues, so a network whose receptive
field radius is at most `overlap` gives exactly the untiled output. Unlike tile_process, the
last row and column of tiles are shifted back to end at the image border instead of being
cut short (or padded): every tile of an image has one shape, min(tile, h) x min(tile, w), so a
jitted network compiles once per image size class (once for all images at least `tile` in both
sides), and no tile sees pixels the untiled network would not see.

A network that needs sides divisible by some m would get its image padded to a multiple of m
by its caller, with `tile` a multiple of m: the windows below then keep that property.
"""
from typing import Callable, NamedTuple

import numpy as np


class Window(NamedTuple):
  """A tile's extent [start, end) along one axis and the part [keep_start, keep_end) of it
  whose output is kept."""
  start: int
  end: int
  keep_start: int
  keep_end: int


def windows(length: int, tile: int, overlap: int) -> list[Window]:
  """Tiles of min(tile, length) pixels covering [0, length); tile=0: one tile.

  The fewest evenly spaced tiles such that each pixel is kept from the tile in which it lies
  farthest from an edge inside the image, and that distance is at least `overlap`.
  """
  size = min(tile, length) if tile else length
  if size == length:
    return [Window(0, length, 0, length)]
  if size <= 2 * overlap:
    raise ValueError(f'A tile of {tile} pixels must be larger than twice the overlap '
                     f'({overlap}): pass a larger tile or a smaller overlap.')
  count = -(-(length - 2 * overlap) // (size - 2 * overlap))  # ceil: the kept parts cover
  starts = (np.arange(count) * (length - size) + (count - 1) // 2) // (count - 1)
  pixels = np.arange(length)[:, None]
  inside = (pixels >= starts) & (pixels < starts + size)
  from_start = np.where(starts > 0, pixels - starts, length)  # image borders are no edges
  from_end = np.where(starts + size < length, starts + size - 1 - pixels, length)
  owner = np.argmax(np.where(inside, np.minimum(from_start, from_end), -1), axis=1)
  kept = []
  for i, start in enumerate(starts):
    owned = np.flatnonzero(owner == i)
    if owned.size:
      kept.append(Window(int(start), int(start) + size, int(owned[0]), int(owned[-1]) + 1))
  return kept


def _scale(input_shape: tuple, output_shape: tuple) -> int:
  """The integer upscaling factor from an input tile [1, h, w, C] to its output."""
  (_, h, w, _), (_, out_h, out_w, _) = input_shape, output_shape
  if out_h % h or out_w % w or out_h // h != out_w // w:
    raise ValueError(f'The network maps a {h}x{w} tile to {out_h}x{out_w}: tiling needs the '
                     'same integer scale in height and width.')
  return out_h // h


def apply_tiled(fn: Callable[[np.ndarray], np.ndarray], image: np.ndarray, tile: int,
                overlap: int) -> np.ndarray:
  """fn applied to uint8 `image` [h, w, C] in tiles of at most tile x tile input pixels.

  `fn` maps uint8 [1, th, tw, C] to float [1, s*th, s*tw, C'] for an integer scale s (1 for
  pix2pix-like networks); the result is float32 [s*h, s*w, C'] on the host. tile=0, or an image
  no larger than a tile, is one call.
  """
  height, width = image.shape[:2]
  output = None
  for row in windows(height, tile, overlap):
    for column in windows(width, tile, overlap):
      tile_input = image[None, row.start:row.end, column.start:column.end]
      tile_output = np.asarray(fn(tile_input), np.float32)
      scale = _scale(tile_input.shape, tile_output.shape)
      if output is None:
        output = np.empty((scale * height, scale * width, tile_output.shape[-1]), np.float32)
      top, left = row.keep_start - row.start, column.keep_start - column.start
      output[scale * row.keep_start:scale * row.keep_end,
             scale * column.keep_start:scale * column.keep_end] = tile_output[
                 0, scale * top:scale * (top + row.keep_end - row.keep_start),
                 scale * left:scale * (left + column.keep_end - column.keep_start)]
  return output
