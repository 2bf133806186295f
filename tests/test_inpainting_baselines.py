"""Inpainting baselines keep known pixels, fill as documented; hole metrics by hand."""
import math

import jax
import numpy as np
import pytest

from jaxgan.data import masks as mask_lib
from jaxgan.evaluation import image_quality
from jaxgan.evaluation import inpainting_baselines as baselines


def _masked_batch(channels, size=24, count=3):
  images = np.random.default_rng(0).integers(0, 256, (count, size, size, channels), np.uint8)
  masks = mask_lib.make(mask_lib.default_config('strokes'))(np.arange(count), size, size)
  return images, masks


@pytest.mark.parametrize('channels', (1, 3))
@pytest.mark.parametrize('fill', ('dataset_mean', 'context_mean', 'biharmonic'))
def test_known_pixels_are_kept_bitwise(fill, channels):
  images, masks = _masked_batch(channels)
  if fill == 'dataset_mean':
    out = baselines.dataset_mean_fill(images, masks, np.full(channels, 99.6))
  else:
    out = getattr(baselines, f'{fill}_fill')(images, masks)
  assert out.dtype == np.uint8 and out.shape == images.shape
  known = np.broadcast_to(masks == 0, images.shape)
  np.testing.assert_array_equal(out[known], images[known])
  assert not np.array_equal(out, images)  # the holes were filled


def test_dataset_mean_fill_by_hand():
  train = np.array([[[[0, 10, 255]], [[3, 20, 254]]]], np.uint8)  # [1, 2, 1, 3]
  mean = baselines.channel_mean(train)
  np.testing.assert_allclose(mean, [1.5, 15.0, 254.5])
  image = np.full((1, 2, 2, 3), 7, np.uint8)
  mask = np.array([[[[1], [0]], [[0], [0]]]], np.uint8)
  out = baselines.dataset_mean_fill(image, mask, mean)
  np.testing.assert_array_equal(out[0, 0, 0], [2, 15, 254])  # numpy rounds half to even
  np.testing.assert_array_equal(out[0, 0, 1], [7, 7, 7])


def test_context_mean_fill_by_hand():
  image = np.array([[[[10, 0]], [[20, 1]]], [[[31, 200]], [[90, 90]]]], np.uint8)
  image = image.reshape(1, 2, 2, 2)  # pixels (0,0) (0,1) (1,0) (1,1), two channels
  mask = np.array([0, 0, 0, 1], np.uint8).reshape(1, 2, 2, 1)
  out = baselines.context_mean_fill(image, mask)
  # Known pixels: channel 0 (10 + 20 + 31) / 3 = 20.33, channel 1 (0 + 1 + 200) / 3 = 67.
  np.testing.assert_array_equal(out[0, 1, 1], [20, 67])
  np.testing.assert_array_equal(out.reshape(4, 2)[:3], image.reshape(4, 2)[:3])


def _ramp(size=32):
  y, x = np.mgrid[:size, :size].astype(np.float64)
  return np.stack([4 * x + 30, 3 * y + 20, 2 * x + 3 * y + 10], -1)[None]  # 0..231, linear


def test_biharmonic_continues_a_smooth_image_into_the_hole():
  ramp = _ramp()
  images = np.round(ramp).astype(np.uint8)
  masks = mask_lib.center(32, 32, 12)[None]
  hole = np.broadcast_to(masks != 0, images.shape)
  biharmonic = baselines.biharmonic_fill(images, masks)
  assert np.abs(biharmonic.astype(float) - ramp)[hole].max() < 1.0
  for mean_fill in (baselines.context_mean_fill(images, masks),
                    baselines.dataset_mean_fill(images, masks, baselines.channel_mean(images))):
    assert np.abs(mean_fill.astype(float) - ramp)[hole].max() > 10
  grey = baselines.biharmonic_fill(images[..., :1], masks)
  assert np.abs(grey[..., 0].astype(float) - ramp[..., 0])[hole[..., 0]].max() < 1.0


def test_hole_metrics_by_hand():
  targets = np.array([[10, 20], [30, 40]], np.uint8).reshape(1, 2, 2, 1)
  outputs = np.array([[10, 25], [33, 40]], np.uint8).reshape(1, 2, 2, 1)
  masks = np.array([[0, 1], [0, 1]], np.uint8).reshape(1, 2, 2, 1)
  # Hole pixels (0, 1) and (1, 1): errors 5 and 0; the known pixel (1, 0) is off by 3.
  np.testing.assert_allclose(baselines.hole_psnr(outputs, targets, masks),
                             [10 * math.log10(255 ** 2 / (25 / 2))], rtol=1e-6)
  np.testing.assert_allclose(baselines.hole_l1(outputs, targets, masks), [5 / 2 / 255],
                             rtol=1e-6)
  other = outputs.copy()
  other[0, 1, 0] = 200  # a known pixel
  np.testing.assert_array_equal(baselines.hole_psnr(other, targets, masks),
                                baselines.hole_psnr(outputs, targets, masks))
  np.testing.assert_array_equal(baselines.hole_l1(other, targets, masks),
                                baselines.hole_l1(outputs, targets, masks))


def test_hole_metrics_average_over_channels_and_work_inside_jit():
  targets = np.zeros((2, 3, 3, 3), np.float32)
  outputs = targets.copy()
  outputs[0, 1, 1] = (6, 0, 0)  # the hole of example 0: one pixel, three channels
  outputs[1, 0, 0] = (9, 9, 9)
  masks = np.zeros((2, 3, 3, 1), np.uint8)
  masks[:, 1, 1] = 1
  np.testing.assert_allclose(baselines.hole_psnr(outputs, targets, masks)[0],
                             10 * math.log10(255 ** 2 / (36 / 3)), rtol=1e-6)
  assert baselines.hole_psnr(outputs, targets, masks)[1] == np.inf  # exact hole
  jitted = jax.jit(lambda a, b, m: (baselines.hole_psnr(a, b, m), baselines.hole_l1(a, b, m)))
  psnr, l1 = jitted(outputs, targets, masks)
  np.testing.assert_allclose(l1, [6 / 3 / 255, 0], rtol=1e-6)
  np.testing.assert_array_equal(psnr, baselines.hole_psnr(outputs, targets, masks))


def test_hole_metrics_dict():
  images, masks = _masked_batch(3, size=32)
  filled = baselines.context_mean_fill(images, masks)
  metrics = baselines.hole_metrics(filled, images, masks)
  assert sorted(metrics) == ['hole_l1', 'hole_psnr', 'ssim']
  assert all(isinstance(v, np.ndarray) and v.shape == (3,) for v in metrics.values())
  np.testing.assert_array_equal(metrics['ssim'], image_quality.ssim(filled, images))
  holes = np.broadcast_to(masks != 0, images.shape)
  errors = np.abs(filled.astype(np.float64) - images)
  expected = [e[h].mean() for e, h in zip(errors, holes)]
  np.testing.assert_allclose(metrics['hole_l1'], np.array(expected) / 255, rtol=1e-5)
  np.testing.assert_allclose(metrics['hole_psnr'],
                             [10 * np.log10(255 ** 2 / (e[h] ** 2).mean())
                              for e, h in zip(errors, holes)], rtol=1e-5)


def test_bad_inputs():
  images, masks = _masked_batch(1)
  with pytest.raises(ValueError, match='whole image'):
    baselines.context_mean_fill(images, np.ones_like(masks))
  with pytest.raises(ValueError, match=r'Masks must be \[N, H, W, 1\]'):
    baselines.biharmonic_fill(images, masks[:, :-1])
  with pytest.raises(ValueError, match='uint8 images'):
    baselines.context_mean_fill(images.astype(np.float32), masks)
  with pytest.raises(ValueError, match='one value per channel'):
    baselines.dataset_mean_fill(images, masks, np.zeros(3))
