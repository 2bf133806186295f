"""The MRI baselines' voxel-wise maps (jaxgan/evaluation/intensity_mappings.py) against
scikit-image's histogram matching and a hand-computed conditional mean."""
import numpy as np
import pytest
from skimage import exposure

from jaxgan.evaluation import intensity_mappings


def _images(seed, a, b, shape):
  return (np.random.default_rng(seed).beta(a, b, shape) * 255).astype(np.uint8)


def test_histogram_matching_equals_scikit_image_on_the_fitted_image():
  source, target = _images(0, 2, 5, (40, 30)), _images(1, 5, 2, (50, 20))
  table = intensity_mappings.histogram_matching([source], [target])
  expected = exposure.match_histograms(source, target)
  np.testing.assert_array_equal(intensity_mappings.apply(table, source),
                                np.clip(np.round(expected), 0, 255).astype(np.uint8))
  assert np.all(np.diff(table.astype(int)) >= 0)  # monotone, levels absent from the source too


def test_histogram_matching_pools_the_histograms_of_all_images():
  parts = [_images(2, 2, 2, (10, 10)), _images(3, 1, 3, (20, 5))]
  pooled = np.concatenate([p.ravel() for p in parts])[None]
  np.testing.assert_array_equal(intensity_mappings.histogram_matching(parts, [parts[1]]),
                                intensity_mappings.histogram_matching([pooled], [parts[1]]))


def test_conditional_mean_is_the_mean_target_per_source_level():
  source = np.array([[0, 0, 10, 10, 10, 255]], np.uint8)
  target = np.array([[4, 6, 30, 31, 35, 200]], np.uint8)
  table = intensity_mappings.conditional_mean([source], [target])
  assert table[0] == 5 and table[10] == 32 and table[255] == 200
  assert table[5] == round((5 + 32) / 2)  # unseen levels: linear interpolation
  with pytest.raises(ValueError, match='aligned pairs'):
    intensity_mappings.conditional_mean([source], [target[:, :3]])
