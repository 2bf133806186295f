"""Metrics and resizers against independent references: scipy sqrtm, closed forms, naive loops,
hand-made point sets, TensorFlow 1's bilinear resize and a numpy re-implementation of PIL."""
import numpy as np
import pytest
import scipy.linalg

from jaxgan.evaluation import metrics
from jaxgan.evaluation import resize


def _random_features(seed, num=200, dim=16, shift=0.0):
  rng = np.random.default_rng(seed)
  mixing = rng.normal(size=(dim, dim)) / np.sqrt(dim)
  return rng.normal(size=(num, dim)) @ mixing + shift


def _sqrtm_fid(x, y):
  """pytorch-fid's formula: scipy.linalg.sqrtm of the covariance product, real part."""
  mu_x, mu_y = x.mean(0), y.mean(0)
  cov_x, cov_y = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
  root = scipy.linalg.sqrtm(cov_x @ cov_y).real
  return float(np.sum((mu_x - mu_y) ** 2) + np.trace(cov_x + cov_y - 2 * root))


def test_fid_matches_scipy_sqrtm_reference():
  x, y = _random_features(0), _random_features(1, shift=0.3)
  fid = metrics.frechet_distance(metrics.feature_statistics(x), metrics.feature_statistics(y))
  np.testing.assert_allclose(fid, _sqrtm_fid(x, y), rtol=1e-9)


def test_fid_of_diagonal_gaussians_has_closed_form():
  a = metrics.FeatureStatistics(np.array([1.0, 2.0, 0.0]), np.diag([4.0, 1.0, 9.0]), 10)
  b = metrics.FeatureStatistics(np.array([0.0, 2.0, 1.0]), np.diag([1.0, 1.0, 1.0]), 10)
  expected = 1 + 1 + (2 - 1) ** 2 + 0 + (3 - 1) ** 2  # |dmu|^2 + sum (sqrt(s_a) - sqrt(s_b))^2
  np.testing.assert_allclose(metrics.frechet_distance(a, b), expected, rtol=1e-12)


def test_fid_is_zero_for_identical_and_finite_for_singular_covariances():
  x = _random_features(2, num=5, dim=32)  # 5 samples in 32-d: covariance of rank 4
  stats = metrics.feature_statistics(x)
  assert abs(metrics.frechet_distance(stats, stats)) < 1e-9
  other = metrics.feature_statistics(_random_features(3, num=5, dim=32))
  fid = metrics.frechet_distance(stats, other)
  assert np.isfinite(fid) and fid > 0
  np.testing.assert_allclose(fid, _sqrtm_fid(x, _random_features(3, num=5, dim=32)), rtol=1e-6)


def _naive_mmd(x, y):
  kernel = lambda a, b: (np.dot(a, b) / len(a) + 1) ** 3
  m, n = len(x), len(y)
  xx = sum(kernel(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
  yy = sum(kernel(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
  xy = sum(kernel(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
  return xx + yy - 2 * xy


def test_kid_matches_naive_unbiased_mmd():
  x, y = _random_features(4, num=12, dim=5), _random_features(5, num=9, dim=5, shift=0.5)
  np.testing.assert_allclose(metrics.mmd_squared_unbiased(x, y), _naive_mmd(x, y), rtol=1e-10)
  # Subsets as large as the smaller set: each subset of y is all of y (in some order).
  mean, std = metrics.kernel_inception_distance(x[:9], y, num_subsets=3, subset_size=50)
  np.testing.assert_allclose(mean, _naive_mmd(x[:9], y), rtol=1e-10)
  assert std < 1e-12


def test_precision_recall_on_hand_made_points():
  real = np.array([[0.0], [1.0], [2.0], [3.0], [4.0]])  # k=1 radii: 1 each
  fake = np.array([[0.5], [10.0]])  # k=1 radii: 9.5 each
  precision, recall = metrics.precision_recall(real, fake, k=1)
  assert precision == 0.5  # 0.5 is inside the real manifold, 10 is not
  assert recall == 1.0  # every real point is within 9.5 of 0.5
  precision, recall = metrics.precision_recall(real, np.array([[20.0], [21.0]]), k=1)
  assert (precision, recall) == (0.0, 0.0)


def test_inception_score_formula_on_hand_made_logits():
  uniform = np.zeros((10, 1008))
  np.testing.assert_allclose(metrics.inception_score(uniform, num_splits=2)[0], 1.0, rtol=1e-12)
  confident = np.full((12, 4), -50.0)
  confident[np.arange(12), np.arange(12) % 4] = 50.0  # one sure class each, all 4 equally often
  np.testing.assert_allclose(metrics.inception_score(confident, num_splits=3), (4.0, 0.0),
                             atol=1e-9)
  two = np.log(np.array([[0.9, 0.1], [0.1, 0.9]]))  # marginal (0.5, 0.5)
  kl = 0.9 * np.log(0.9 / 0.5) + 0.1 * np.log(0.1 / 0.5)
  np.testing.assert_allclose(metrics.inception_score(two, num_splits=1)[0], np.exp(kl),
                             rtol=1e-12)


def test_legacy_tf_resize_matches_tensorflow_1_bilinear():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  images = np.random.default_rng(0).integers(0, 256, (2, 28, 20, 3), dtype=np.uint8)
  expected = tf.compat.v1.image.resize_bilinear(images.astype(np.float32), (299, 299),
                                                align_corners=False).numpy()
  np.testing.assert_allclose(resize.legacy_tf_resize(images), expected, atol=1e-3)


def _pil_bicubic_matrix(in_size, out_size):
  """PIL's antialiased bicubic (a = -0.5) resampling weights, re-implemented from
  Pillow's Resample.c (pixel centers, support scaled by max(1, in/out), normalized)."""
  def cubic(x, a=-0.5):
    x = abs(x)
    if x < 1:
      return ((a + 2) * x - (a + 3)) * x * x + 1
    if x < 2:
      return (((x - 5) * x + 8) * x - 4) * a
    return 0.0
  scale = in_size / out_size
  filter_scale = max(scale, 1.0)
  support = 2.0 * filter_scale
  matrix = np.zeros((out_size, in_size))
  for out in range(out_size):
    center = (out + 0.5) * scale
    low, high = max(int(center - support + 0.5), 0), min(int(center + support + 0.5), in_size)
    weights = np.array([cubic((i - center + 0.5) / filter_scale) for i in range(low, high)])
    matrix[out, low:high] = weights / weights.sum()
  return matrix


def test_clean_resize_is_float_pil_bicubic_and_repeats_grayscale():
  images = np.random.default_rng(1).integers(0, 256, (2, 28, 28, 1), dtype=np.uint8)
  matrix = _pil_bicubic_matrix(28, 299)
  expected = np.clip(np.einsum('ph,nhw,qw->npq', matrix, images[..., 0].astype(np.float64),
                               matrix), 0, 255)
  resized = resize.clean_resize(images)
  assert resized.shape == (2, 299, 299, 3) and resized.dtype == np.float32
  for channel in range(3):  # float resampling: no rounding to integers
    np.testing.assert_allclose(resized[..., channel], expected, atol=2e-3)
  assert np.any(np.abs(resized - np.round(resized)) > 0.01)


def test_resizers_reject_float_images():
  with pytest.raises(ValueError, match='uint8'):
    resize.clean_resize(np.zeros((1, 8, 8, 3), np.float32))
