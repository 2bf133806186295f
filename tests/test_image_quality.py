"""PSNR, SSIM and the Y conversion against skimage's float64 metrics on real photographs."""
import io
import json

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
import skimage.data
from skimage import metrics as skimage_metrics

from jaxgan.evaluation import image_quality


def _jpeg(image: np.ndarray, quality: int = 20) -> np.ndarray:
  buffer = io.BytesIO()
  Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).save(
      buffer, 'JPEG', quality=quality)
  return np.asarray(Image.open(buffer)).reshape(image.shape)


def _distorted(images: np.ndarray) -> np.ndarray:
  """One distortion per image: Gaussian noise, blur, JPEG at quality 20, in turn."""
  rng = np.random.default_rng(0)
  out = []
  for i, image in enumerate(images):
    if i % 3 == 0:
      out.append(np.clip(image + rng.normal(0, 10, image.shape), 0, 255))
    elif i % 3 == 1:
      out.append(np.clip(np.round(ndimage.gaussian_filter(image.astype(float), (1.2, 1.2, 0))),
                         0, 255))
    else:
      out.append(_jpeg(image))
  return np.stack(out).astype(np.uint8)


@pytest.fixture(scope='module')
def rgb_pair():
  astronaut, chelsea, coffee = (skimage.data.astronaut(), skimage.data.chelsea(),
                                skimage.data.coffee())
  images = np.stack([astronaut[60:156, 180:276], chelsea[40:136, 120:216],
                     coffee[100:196, 200:296], astronaut[300:396, 300:396]])
  return images, _distorted(images)


@pytest.fixture(scope='module')
def gray_pair():
  camera, moon = skimage.data.camera(), skimage.data.moon()
  images = np.stack([camera[100:196, 200:296], moon[200:296, 150:246], camera[0:96, 0:96]])
  return images[..., None], _distorted(images[..., None])


def _skimage_ssim(a, b):
  return skimage_metrics.structural_similarity(
      a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255,
      channel_axis=-1)


def _reference(metric, a, b, crop_border):
  k = crop_border
  a, b = (x[k:x.shape[0] - k, k:x.shape[1] - k].astype(np.float64) for x in (a, b))
  if metric == 'psnr':
    return skimage_metrics.peak_signal_noise_ratio(a, b, data_range=255)
  return _skimage_ssim(a, b)


@pytest.mark.parametrize('metric', ['psnr', 'ssim'])
@pytest.mark.parametrize('crop_border', [0, 4])
@pytest.mark.parametrize('pair', ['rgb_pair', 'gray_pair'])
def test_metrics_equal_skimage_per_image(metric, crop_border, pair, request):
  targets, outputs = request.getfixturevalue(pair)
  ours = getattr(image_quality, metric)(outputs, targets, crop_border=crop_border)
  assert ours.shape == (len(targets),)
  expected = [_reference(metric, t, o, crop_border) for t, o in zip(targets, outputs)]
  np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-4)
  assert len(set(np.round(expected, 3))) == len(expected)  # distinct images, per-example order


def _y_float64(images):
  rgb = images.astype(np.float64) / 255
  return 16 + 65.481 * rgb[..., 0:1] + 128.553 * rgb[..., 1:2] + 24.966 * rgb[..., 2:3]


@pytest.mark.parametrize('metric', ['psnr', 'ssim'])
def test_y_channel_metrics_equal_skimage_on_float64_luma(metric, rgb_pair):
  targets, outputs = rgb_pair
  ours = getattr(image_quality, metric)(outputs, targets, crop_border=4, y_channel=True)
  expected = [_reference(metric, t, o, 4) for t, o in zip(_y_float64(targets),
                                                           _y_float64(outputs))]
  np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-4)


def test_rgb_to_y_by_hand():
  pixels = np.array([[[[0, 0, 0], [255, 255, 255], [255, 0, 0], [10, 20, 30]]]], np.uint8)
  # 16 + (65.481 * 10 + 128.553 * 20 + 24.966 * 30) / 255 = 16 + 3974.85 / 255
  expected = [16.0, 235.0, 16 + 65.481, 16 + 3974.85 / 255]
  y = image_quality.rgb_to_y(pixels)
  assert y.shape == (1, 1, 4, 1)
  np.testing.assert_allclose(y[0, 0, :, 0], expected, rtol=0, atol=1e-4)


def test_y_channel_of_grayscale_is_the_image(gray_pair):
  targets, outputs = gray_pair
  for metric in (image_quality.psnr, image_quality.ssim):
    np.testing.assert_array_equal(metric(outputs, targets, y_channel=True),
                                  metric(outputs, targets))


def test_ssim_stays_accurate_on_bright_flat_images():
  """E[x^2] - E[x]^2 cancels in float32 near 255 (errors ~3e-5 computed naively)."""
  rng = np.random.default_rng(1)
  bright = np.clip(245 + rng.normal(0, 2, (2, 64, 64, 3)), 0, 255).astype(np.uint8)
  blurred = np.round(ndimage.gaussian_filter(bright.astype(float), (0, 1, 1, 0))).astype(np.uint8)
  expected = [_skimage_ssim(a, b) for a, b in zip(blurred, bright)]
  np.testing.assert_allclose(image_quality.ssim(blurred, bright), expected, rtol=0, atol=2e-6)


def test_identical_images_have_infinite_psnr_and_unit_ssim(rgb_pair):
  images = rgb_pair[0]
  assert np.all(np.isposinf(image_quality.psnr(images, images)))
  np.testing.assert_allclose(image_quality.ssim(images, images), 1.0, atol=1e-6)


def test_sr_metrics_follow_the_protocol(rgb_pair):
  targets, outputs = rgb_pair
  results = image_quality.sr_metrics(outputs, targets, scale=4)
  assert sorted(results) == ['psnr_rgb', 'psnr_y', 'ssim_rgb', 'ssim_y']
  np.testing.assert_array_equal(results['psnr_y'],
                                image_quality.psnr(outputs, targets, 4, y_channel=True))
  np.testing.assert_array_equal(results['ssim_rgb'], image_quality.ssim(outputs, targets, 4))
  assert all(value.shape == (len(targets),) for value in results.values())
  assert json.loads(json.dumps(image_quality.protocol(4)))['crop_border'] == 4


def test_bad_shapes_and_crops_are_clear_errors(rgb_pair):
  targets, outputs = rgb_pair
  with pytest.raises(ValueError, match='differ in shape'):
    image_quality.psnr(outputs[:, :64], targets)
  with pytest.raises(ValueError, match='crop_border=48 must be >= 0'):
    image_quality.psnr(outputs, targets, crop_border=48)
  with pytest.raises(ValueError, match='at least 11x11'):
    image_quality.ssim(outputs, targets, crop_border=43)
