"""Image grids and PNG writing (jaxgan/data/images.py): exact values, tile positions, round
trips."""
import os

import jax
import numpy as np
import pytest
from PIL import Image

from jaxgan.data import images


def test_to_uint8_inverts_normalize_images_on_every_value():
  values = np.arange(256, dtype=np.uint8)
  np.testing.assert_array_equal(images.to_uint8(images.normalize_images(values)), values)


def test_to_uint8_rounds_to_nearest_on_either_side_of_the_half():
  k = np.arange(255, dtype=np.float64)
  below = (k + 0.5 - 1e-3) / 127.5 - 1  # (x + 1) * 127.5 = k + 0.499
  above = (k + 0.5 + 1e-3) / 127.5 - 1  # (x + 1) * 127.5 = k + 0.501
  np.testing.assert_array_equal(images.to_uint8(below), k.astype(np.uint8))
  np.testing.assert_array_equal(images.to_uint8(above), (k + 1).astype(np.uint8))


def test_to_uint8_clips_out_of_range_values():
  got = images.to_uint8(np.float32([-1e6, -1.5, -1.0, -1.003, 1.0, 1.003, 2.0, 1e6]))
  np.testing.assert_array_equal(got, np.uint8([0, 0, 0, 0, 255, 255, 255, 255]))
  assert got.dtype == np.uint8


def test_to_uint8_in_jit_equals_numpy_at_every_rounding_boundary():
  # Every level's rounding boundary (n + 0.5 levels) and its float32 neighbours, out of range too.
  boundaries = (np.arange(-2, 258, dtype=np.float32) + 0.5) / np.float32(127.5) - 1
  values = np.concatenate([np.nextafter(boundaries, -np.inf), boundaries,
                           np.nextafter(boundaries, np.inf), [-1, 0, 1]]).astype(np.float32)
  on_host = images.to_uint8(values)
  in_jit = jax.jit(images.to_uint8)(values)
  assert isinstance(on_host, np.ndarray) and isinstance(in_jit, jax.Array)
  assert in_jit.dtype == on_host.dtype == np.uint8
  np.testing.assert_array_equal(np.asarray(in_jit), on_host)
  np.testing.assert_array_equal(on_host[-3:], [0, 128, 255])  # 127.5 rounds half to even


def _tiles(num, height=3, width=4, channels=1):
  """Image i is filled with i + 1 (all nonzero, so padding zeros stand out)."""
  return np.broadcast_to(np.arange(1, num + 1, dtype=np.uint8)[:, None, None, None],
                         (num, height, width, channels)).copy()


def test_grid_of_five_fills_three_columns_row_by_row_with_padding():
  grid = images.make_grid(_tiles(5), padding=2)
  # ceil(sqrt(5)) = 3 columns, 2 rows; tiles 3x4 on a 2-pixel border between and around.
  assert grid.shape == (2 * 5 + 2, 3 * 6 + 2, 1)
  expected = np.zeros((12, 20), np.uint8)
  for value, (top, left) in enumerate([(2, 2), (2, 8), (2, 14), (7, 2), (7, 8)], start=1):
    expected[top:top + 3, left:left + 4] = value
  np.testing.assert_array_equal(grid[..., 0], expected)  # the sixth cell stays empty


def test_grid_with_given_columns_and_no_padding_is_a_block_matrix():
  tiles = np.random.default_rng(0).integers(0, 256, (5, 2, 3, 3), dtype=np.uint8)
  grid = images.make_grid(tiles, columns=2, padding=0)
  blank = np.zeros_like(tiles[0])
  np.testing.assert_array_equal(grid, np.block([[[tiles[0]], [tiles[1]]],
                                                [[tiles[2]], [tiles[3]]],
                                                [[tiles[4]], [blank]]]))


def test_grid_of_one_column_stacks_images_vertically():
  grid = images.make_grid(_tiles(3, height=2, width=2), columns=1, padding=1)
  assert grid.shape == (3 * 3 + 1, 2 + 2, 1)
  np.testing.assert_array_equal(grid[:, 1:3, 0].ravel()[:8], [0, 0, 1, 1, 1, 1, 0, 0])
  np.testing.assert_array_equal(grid[7:9, 1:3, 0], np.full((2, 2), 3))
  assert grid[:, 0].max() == 0 and grid[:, 3].max() == 0


@pytest.mark.parametrize('channels', [1, 3])
def test_save_png_round_trips_and_leaves_no_temporary_file(tmp_path, channels):
  image = np.random.default_rng(channels).integers(0, 256, (5, 7, channels), dtype=np.uint8)
  path = str(tmp_path / 'nested' / 'grid.png')
  images.save_png(image, path)
  with Image.open(path) as png:
    assert png.mode == ('L' if channels == 1 else 'RGB')
    read = np.asarray(png)
  np.testing.assert_array_equal(read.reshape(image.shape), image)
  assert os.listdir(tmp_path / 'nested') == ['grid.png']


def test_a_failed_save_keeps_the_previous_file_and_leaves_no_temporary(tmp_path):
  path = str(tmp_path / 'grid.png')
  first = np.full((4, 4, 3), 7, np.uint8)
  images.save_png(first, path)
  with pytest.raises(OSError):
    images.save_png(np.zeros((4, 4, 1), np.float32), path)  # PNG cannot hold float32 pixels
  with Image.open(path) as png:
    np.testing.assert_array_equal(np.asarray(png), first)
  assert os.listdir(tmp_path) == ['grid.png']
