"""Tiled application equals untiled application for a network whose receptive field fits the
overlap, with one tile shape per image; and differs when the overlap is too small."""
import jax
import numpy as np
import pytest

from jaxgan.inference import tiling

RADIUS = 3  # three 3x3 convolutions before the upsampling: 3 input pixels


def _conv_net(seed: int, channels: int = 3, width: int = 5, scale: int = 2):
  """A random fully convolutional net: 3 x (3x3 conv, zero 'SAME' padding), nearest upsampling."""
  keys = jax.random.split(jax.random.key(seed), 3)
  shapes = [(3, 3, channels, width), (3, 3, width, width), (3, 3, width, channels)]
  kernels = [jax.random.normal(k, s) / 3.0 for k, s in zip(keys, shapes)]

  @jax.jit
  def fn(images):
    x = images.astype(np.float32) / 127.5 - 1.0
    for i, kernel in enumerate(kernels):
      x = jax.lax.conv_general_dilated(x, kernel, (1, 1), 'SAME',
                                       dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
      x = jax.numpy.tanh(x) if i < 2 else x
    return jax.numpy.repeat(jax.numpy.repeat(x, scale, axis=1), scale, axis=2)
  return fn


def _recording(fn, shapes):
  def recorded(images):
    shapes.append(images.shape)
    return fn(images)
  return recorded


@pytest.fixture(scope='module')
def image():
  return np.random.default_rng(0).integers(0, 256, (37, 53, 3), np.uint8)


def test_windows_keep_each_pixel_from_the_tile_where_it_is_farthest_from_an_edge():
  # length 10, tiles of 6: [0, 6) and [4, 10); pixel 4 is 1 from [0, 6)'s inner edge (at 5) and
  # 0 from [4, 10)'s (at 4), pixel 5 the other way round.
  assert tiling.windows(10, 6, 1) == [(0, 6, 0, 5), (4, 10, 5, 10)]
  assert tiling.windows(10, 0, 1) == tiling.windows(10, 16, 1) == [(0, 10, 0, 10)]
  with pytest.raises(ValueError, match='larger than twice the overlap'):
    tiling.windows(10, 6, 3)


@pytest.mark.parametrize('tile', [16, 20])
def test_tiled_equals_untiled_with_one_tile_shape(image, tile):
  fn = _conv_net(0)
  untiled = np.asarray(fn(image[None]))[0]
  shapes = []
  tiled = tiling.apply_tiled(_recording(fn, shapes), image, tile, overlap=RADIUS)
  assert tiled.shape == (74, 106, 3) and tiled.dtype == np.float32
  np.testing.assert_allclose(tiled, untiled, atol=1e-5, rtol=0)
  assert len(shapes) > 4 and set(shapes) == {(1, tile, tile, 3)}


def test_too_small_overlap_differs_near_the_seams(image):
  fn = _conv_net(0)
  untiled = np.asarray(fn(image[None]))[0]
  tiled = tiling.apply_tiled(fn, image, 16, overlap=RADIUS - 1)
  assert np.abs(tiled - untiled).max() > 1e-3


def test_small_image_and_no_tiling_are_one_call(image):
  fn, shapes = _conv_net(1, scale=1), []
  for tile in (0, 64):
    out = tiling.apply_tiled(_recording(fn, shapes), image, tile, overlap=RADIUS)
    np.testing.assert_array_equal(out, np.asarray(fn(image[None]))[0])
  assert shapes == [(1, 37, 53, 3)] * 2


@pytest.mark.parametrize('output_shape', [(1, 24, 24, 3), (1, 32, 48, 3)])
def test_non_integer_or_unequal_scale_is_refused(image, output_shape):
  with pytest.raises(ValueError, match='same integer scale'):
    tiling.apply_tiled(lambda x: np.zeros(output_shape), image, 16, overlap=2)
