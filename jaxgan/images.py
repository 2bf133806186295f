"""Image grids: float images in [-1, 1] -> one uint8 mosaic, and PNG writing."""
import math
import os

import numpy as np
from PIL import Image


def to_uint8(images: np.ndarray) -> np.ndarray:
  """[-1, 1] float -> [0, 255] uint8, rounding to nearest (the inverse of data.normalize_images)."""
  return np.clip(np.round((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


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
