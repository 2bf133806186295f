"""Held-out likelihood of a likelihood family (VAE, PixelCNN) on the whole fixed test split.

The family supplies a pure `eval_metrics(state, batch, rng) -> {name: per-example array}` and
`eval_protocol() -> dict`; this evaluator jits it data-parallel over the mesh, feeds every test
example exactly once (the last batch padded and the padding masked out) and returns the means.
Batch b's key is fold_in(key(config.seed) 'eval' stream, b), so a result depends only on the
config, the checkpoint and the test split, not on the number of devices.
"""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgan import data
from jaxgan.families import base

_EVAL_STREAM = 0x4556414c  # 'EVAL': the evaluator's key is fold_in(key(seed), this)


class LikelihoodEvaluator:
  """Mean per-example likelihood metrics (`bits_per_dim`, `neg_elbo_nats`, `iwae_nll_nats`)."""

  def __init__(self, config: ml_collections.ConfigDict, family, mesh: jax.sharding.Mesh,
               metrics=('likelihood',)):
    del metrics  # one pass computes all of the family's likelihood metrics
    base.require(family, 'eval_metrics', "config.eval.metrics's 'likelihood'")
    batch_size = config.eval.batch_size
    if batch_size % mesh.size:
      raise ValueError(f'config.eval.batch_size={batch_size} is not divisible by the '
                       f'{mesh.size} devices; use a multiple of {mesh.size}.')
    self.config, self.family, self.mesh = config, family, mesh
    self.split = config.data.test_split
    source = data.open_source(config.data, self.split)
    everything = source.get(np.arange(len(source)))
    self.count = len(source)
    num_batches = -(-self.count // batch_size)
    padding = num_batches * batch_size - self.count
    self.images = np.concatenate([everything['image'], np.repeat(everything['image'][:1], padding, 0)])
    self.labels = np.concatenate([everything['label'], np.repeat(everything['label'][:1], padding, 0)])
    self.weights = (np.arange(num_batches * batch_size) < self.count).astype(np.float32)
    self.batch_size, self.num_batches = batch_size, num_batches
    self.key = jax.random.fold_in(jax.random.key(config.seed), _EVAL_STREAM)
    replicated, sharded = (jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()),
                           jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec('data')))
    self._weighted_sums = jax.jit(self._batch_sums,
                                  in_shardings=(replicated, sharded, sharded, replicated),
                                  out_shardings=replicated)

  def _batch_sums(self, state, batch: data.Batch, weights: jax.Array, key: jax.Array) -> dict:
    metrics = self.family.eval_metrics(state, batch, key)
    return {name: jnp.sum(value.astype(jnp.float32) * weights) for name, value in metrics.items()}

  def _global(self, array: np.ndarray):
    """A global batch from this process's rows (every process holds the whole split)."""
    rows = len(array) // jax.process_count()
    start = jax.process_index() * rows
    sharding = jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec('data'))
    return jax.make_array_from_process_local_data(sharding, array[start:start + rows])

  def __call__(self, state, step: int) -> dict[str, float]:
    """Means over the test split of every metric the family reports; `step` is for logging."""
    del step
    totals = None
    for b in range(self.num_batches):
      rows = slice(b * self.batch_size, (b + 1) * self.batch_size)
      batch = {'image': self._global(self.images[rows]), 'label': self._global(self.labels[rows])}
      sums = self._weighted_sums(state, batch, self._global(self.weights[rows]),
                                 jax.random.fold_in(self.key, b))
      totals = sums if totals is None else jax.tree.map(jnp.add, totals, sums)
    return {name: float(value) / self.count for name, value in jax.device_get(totals).items()}

  def protocol(self) -> dict:
    """What the numbers mean: data, split and size, estimator settings, seed."""
    return {'dataset': self.config.data.name, 'split': self.split, 'count': self.count,
            'batch_size': self.batch_size, 'seed': self.config.seed,
            'units': 'nats per image; bits per dimension',
            **self.family.eval_protocol()}
