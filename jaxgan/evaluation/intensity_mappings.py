"""Voxel-wise intensity mappings between two image domains: the baselines of unpaired MRI
translation (T1 <-> grey matter), fitted on training images and applied as 256-entry lookup
tables to uint8 images.

  histogram_matching  the monotone map that sends the source domain's intensity histogram onto
                      the target domain's (Gonzalez & Woods, histogram specification): fitted on
                      the two domains' marginals only, so it needs no pairs, as CycleGAN.
  conditional_mean    E[target | source intensity], fitted on aligned pairs: the best any
                      voxel-wise map can do under squared error (a paired oracle, not an
                      unpaired method).
"""
import numpy as np

LEVELS = 256


def _counts(images) -> np.ndarray:
  return sum(np.bincount(np.asarray(x, np.uint8).ravel(), minlength=LEVELS) for x in images)


def histogram_matching(source_images, target_images) -> np.ndarray:
  """uint8 lookup table [256]: source intensity v -> the target intensity at v's quantile.

  As skimage.exposure.match_histograms: each present source level's cumulative fraction is
  interpolated linearly into the target's (levels at their cumulative fractions); levels absent
  from the source take the nearest lower present level's value (they never occur in it).
  """
  source, target = _counts(source_images), _counts(target_images)
  present_source, present_target = np.flatnonzero(source), np.flatnonzero(target)
  source_quantiles = np.cumsum(source[present_source]) / source.sum()
  target_quantiles = np.cumsum(target[present_target]) / target.sum()
  mapped = np.interp(source_quantiles, target_quantiles, present_target.astype(np.float64))
  table = np.zeros(LEVELS)
  table[present_source] = mapped
  filled = np.maximum.accumulate(np.where(source > 0, np.arange(LEVELS), 0))
  table = np.where(source > 0, table, table[filled])
  return np.clip(np.round(table), 0, 255).astype(np.uint8)


def conditional_mean(source_images, target_images) -> np.ndarray:
  """uint8 lookup table [256]: the mean target intensity of the voxels with each source
  intensity, over aligned image pairs (levels never seen: linear interpolation between seen
  ones)."""
  sums, counts = np.zeros(LEVELS), np.zeros(LEVELS)
  for x, y in zip(source_images, target_images):
    x, y = np.asarray(x, np.uint8).ravel(), np.asarray(y, np.float64).ravel()
    if x.shape != y.shape:
      raise ValueError(f'conditional_mean needs aligned pairs; got {x.size} and {y.size} '
                       'voxels.')
    sums += np.bincount(x, y, LEVELS)
    counts += np.bincount(x, None, LEVELS)
  seen = np.flatnonzero(counts)
  table = np.interp(np.arange(LEVELS), seen, sums[seen] / counts[seen])
  return np.clip(np.round(table), 0, 255).astype(np.uint8)


def apply(table: np.ndarray, images: np.ndarray) -> np.ndarray:
  """The lookup table applied to uint8 images."""
  return table[np.asarray(images, np.uint8)]
