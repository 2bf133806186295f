"""Held-out metrics: the family's per-example `eval_metrics` averaged over a whole data split.

Evaluator type 'heldout', reported as the block's `prefix` (e.g. 'validation_') + each name.
The family supplies a pure `eval_metrics(state, batch, rng) -> {name: per-example [N] array}`
and `eval_protocol() -> dict` (e.g. a VAE's negative ELBO and IWAE bound, a PixelCNN's exact
bits/dim). This pass jits it data-parallel over the mesh and feeds
every example of the split exactly once, whatever the batch's structure (labelled images,
paired {'input', 'target'}, ...): the last batch is filled with copies of the split's last
example (every leaf of the batch, as the source returns them) and those rows get weight 0.
Batch b's key is fold_in(fold_in(key(config.seed), 'EVAL'), b), so a result depends only on the
config, the checkpoint and the split, not on the number of devices or processes.
"""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgan import config_lib
from jaxgan.data import sources as data
from jaxgan.evaluation import progress
from jaxgan.families import base
from jaxgan.training.mesh import data_sharding, global_batch, replicated_sharding

_EVAL_STREAM = 0x4556414c  # 'EVAL': the evaluator's key is fold_in(key(seed), this)


class HeldOutEvaluator:
  """Means over `split` of every per-example metric the family's eval_metrics reports."""

  @staticmethod
  def check(name: str, block: ml_collections.ConfigDict, config, family) -> tuple[str, ...]:
    """The result names `block` (config.eval.<name>) produces, from an abstract evaluation of
    eval_metrics (no compute); a ConfigError for a bad field."""
    del config
    where = f'config.eval.{name}'
    base.require(family, 'eval_metrics', f"{where} (type 'heldout')")
    if not isinstance(block.batch_size, int) or block.batch_size < 1:
      raise config_lib.ConfigError(f'{where}.batch_size must be a positive integer, got '
                                   f'{block.batch_size!r}.')
    batch = family.example_batch(base.phases(family)[-1])
    key = jax.random.key(0)
    state = jax.eval_shape(family.init, key, batch)
    if base.has(family, 'frozen'):
      state = state.replace(frozen=family.frozen_params())
    prefix = block.get('prefix', '')
    return tuple(sorted(prefix + name
                        for name in jax.eval_shape(family.eval_metrics, state, batch, key)))

  def __init__(self, name: str, block: ml_collections.ConfigDict,
               config: ml_collections.ConfigDict, family, mesh: jax.sharding.Mesh):
    where = f'config.eval.{name}'
    base.require(family, 'eval_metrics', f"{where} (type 'heldout')")
    if block.batch_size % mesh.size:
      raise config_lib.ConfigError(
          f'{where}.batch_size={block.batch_size} is not divisible by the {mesh.size} devices; '
          f'use a multiple of {mesh.size}.')
    self.name, self.block, self.config, self.family, self.mesh = name, block, config, family, mesh
    # At the last phase's image size: the model the pass scores is the finished one.
    self.source = data.open_source(config.data, block.split,
                                   base.phases(family)[-1].image_size)
    self.count = len(self.source)
    self.key = jax.random.fold_in(jax.random.key(config.seed), _EVAL_STREAM)
    # The state keeps its own shardings (None), those of the mesh's rules.
    replicated, sharded = replicated_sharding(mesh), data_sharding(mesh)
    self._weighted_sums = jax.jit(self._batch_sums,
                                  in_shardings=(None, sharded, sharded, replicated),
                                  out_shardings=replicated)

  def _batch_sums(self, state, batch: base.Batch, weights: jax.Array, key: jax.Array) -> dict:
    metrics = self.family.eval_metrics(state, batch, key)
    return {name: jnp.sum(value.astype(jnp.float32) * weights) for name, value in metrics.items()}

  def _local_batch(self, start: int) -> tuple[base.Batch, np.ndarray]:
    """This process's rows of global batch [start, start + batch_size): the examples (indices
    past the split's end repeat its last example) and their weights (0 for those copies)."""
    batch_size = self.block.batch_size
    indices = np.arange(start, start + batch_size)
    weights = (indices < self.count).astype(np.float32)
    rows = batch_size // jax.process_count()
    mine = slice(jax.process_index() * rows, (jax.process_index() + 1) * rows)
    return self.source.get(np.minimum(indices, self.count - 1)[mine]), weights[mine]

  def __call__(self, state, step: int) -> dict[str, float]:
    """Means over the split of every metric the family reports; `step` is for logging."""
    del step
    totals = None
    tracker = progress.Progress(f'{self.name}: {self.block.split!r} split', self.count,
                                unit='examples')
    for b, start in enumerate(range(0, self.count, self.block.batch_size)):
      batch, weights = global_batch(self._local_batch(start), self.mesh)
      sums = self._weighted_sums(state, batch, weights, jax.random.fold_in(self.key, b))
      totals = sums if totals is None else jax.tree.map(jnp.add, totals, sums)
      tracker.update(min(start + self.block.batch_size, self.count), totals)
    prefix = self.block.get('prefix', '')
    return {prefix + name: float(value) / self.count
            for name, value in jax.device_get(totals).items()}

  def protocol(self) -> dict:
    """What the numbers mean: data, split and size, estimator settings, seed."""
    return {'dataset': self.config.data.name, 'split': self.block.split, 'count': self.count,
            'batch_size': self.block.batch_size, 'seed': self.config.seed,
            'estimator': 'mean over every example of the split of family.eval_metrics',
            **self.family.eval_protocol()}
