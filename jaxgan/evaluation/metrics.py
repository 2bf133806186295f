"""Sample-quality metrics on Inception features, in float64 on the host.

- FID: Heusel et al. 2017 (arXiv:1706.08500).
- KID: Binkowski et al. 2018 (arXiv:1801.01401), unbiased MMD^2 with the cubic polynomial kernel.
- Precision / recall: Kynkaanniemi et al. 2019 (arXiv:1904.06991), k-NN manifolds.
- Inception Score: Salimans et al. 2016 (arXiv:1606.03498).
"""
from typing import NamedTuple

import numpy as np
import scipy.special


class FeatureStatistics(NamedTuple):
  mean: np.ndarray  # [D] float64
  covariance: np.ndarray  # [D, D] float64
  count: int


def feature_statistics(features: np.ndarray) -> FeatureStatistics:
  """Mean and unbiased covariance (rowvar=False, ddof=1, as pytorch-fid) in float64."""
  features = np.asarray(features, np.float64)
  if features.ndim != 2 or len(features) < 2:
    raise ValueError(f'Need at least 2 feature vectors [N, D], got shape {features.shape}.')
  return FeatureStatistics(features.mean(0), np.cov(features, rowvar=False), len(features))


def _psd_eigenvalues(eigenvalues: np.ndarray) -> np.ndarray:
  """Eigenvalues of a PSD matrix with those below round-off (the numerical-rank tolerance
  n * eps * largest, as in numpy.linalg.matrix_rank) set to 0, so that the square roots of the
  null space's noise (~1e-8 each) do not add up."""
  tolerance = len(eigenvalues) * np.finfo(np.float64).eps * np.max(np.abs(eigenvalues))
  return np.where(eigenvalues > tolerance, eigenvalues, 0.0)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
  """Symmetric square root of a symmetric PSD matrix."""
  eigenvalues, eigenvectors = np.linalg.eigh((matrix + matrix.T) / 2)
  return (eigenvectors * np.sqrt(_psd_eigenvalues(eigenvalues))) @ eigenvectors.T


def frechet_distance(a: FeatureStatistics, b: FeatureStatistics) -> float:
  """||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)).

  tr((S_a S_b)^(1/2)) is the sum of square roots of the eigenvalues of the symmetric PSD matrix
  S_a^(1/2) S_b S_a^(1/2) (it has the same spectrum as S_a S_b), so there are no complex parts
  to discard and singular covariances (fewer samples than dimensions) are fine.
  """
  sqrt_a = _psd_sqrt(a.covariance)
  middle = sqrt_a @ b.covariance @ sqrt_a
  eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2)
  trace_sqrt = np.sum(np.sqrt(_psd_eigenvalues(eigenvalues)))
  difference = a.mean - b.mean
  return float(difference @ difference + np.trace(a.covariance) + np.trace(b.covariance)
               - 2 * trace_sqrt)


def _polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd_squared_unbiased(x: np.ndarray, y: np.ndarray) -> float:
  """Unbiased MMD^2 between samples x [m, D] and y [n, D] with k(a, b) = (a.b / D + 1)^3."""
  m, n = len(x), len(y)
  k_xx, k_yy, k_xy = _polynomial_kernel(x, x), _polynomial_kernel(y, y), _polynomial_kernel(x, y)
  return float((k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
               + (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1)) - 2 * k_xy.mean())


def kernel_inception_distance(real: np.ndarray, fake: np.ndarray, num_subsets: int = 100,
                              subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
  """(mean, std) of unbiased MMD^2 over `num_subsets` random subsets of each set.

  The subset size is capped at the smaller set (as clean-fid and torch-fidelity do).
  """
  real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
  size = min(subset_size, len(real), len(fake))
  if size < 2:
    raise ValueError('KID needs at least 2 samples in each set.')
  rng = np.random.default_rng(seed)
  values = [mmd_squared_unbiased(real[rng.choice(len(real), size, replace=False)],
                                 fake[rng.choice(len(fake), size, replace=False)])
            for _ in range(num_subsets)]
  return float(np.mean(values)), float(np.std(values))


def _pairwise_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  squared = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * x @ y.T
  return np.sqrt(np.clip(squared, 0, None))


def _knn_radii(points: np.ndarray, k: int, block: int) -> np.ndarray:
  """Distance from each point to its k-th nearest other point."""
  radii = np.empty(len(points))
  for start in range(0, len(points), block):
    distances = _pairwise_distances(points[start:start + block], points)
    radii[start:start + block] = np.partition(distances, k, axis=1)[:, k]  # [:, 0] is itself
  return radii


def _fraction_inside(queries: np.ndarray, points: np.ndarray, radii: np.ndarray,
                     block: int) -> float:
  """Fraction of queries within radii[j] of some points[j]."""
  inside = 0
  for start in range(0, len(queries), block):
    distances = _pairwise_distances(queries[start:start + block], points)
    inside += int(np.any(distances <= radii[None, :], axis=1).sum())
  return inside / len(queries)


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3,
                     block: int = 1024) -> tuple[float, float]:
  """Improved precision (fakes inside the real manifold) and recall (reals inside the fake one).

  A manifold is the union of balls around its points, each with the radius to its k-th
  nearest neighbour within the same set.
  """
  real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
  if min(len(real), len(fake)) <= k:
    raise ValueError(f'Precision/recall with k={k} needs more than {k} samples in each set.')
  precision = _fraction_inside(fake, real, _knn_radii(real, k, block), block)
  recall = _fraction_inside(real, fake, _knn_radii(fake, k, block), block)
  return precision, recall


def inception_score(logits: np.ndarray, num_splits: int = 10) -> tuple[float, float]:
  """(mean, std) over splits of exp(E_x KL(p(y|x) || p(y))), p(y|x) = softmax(logits)."""
  logits = np.asarray(logits, np.float64)
  if len(logits) < num_splits:
    raise ValueError(f'The Inception Score needs at least {num_splits} samples.')
  log_p = scipy.special.log_softmax(logits, axis=1)
  scores = []
  for part in np.array_split(log_p, num_splits):
    log_marginal = scipy.special.logsumexp(part, axis=0) - np.log(len(part))
    kl = np.sum(np.exp(part) * (part - log_marginal[None, :]), axis=1)
    scores.append(np.exp(kl.mean()))
  return float(np.mean(scores)), float(np.std(scores))
