"""Gradients of a batch objective, whole or accumulated over sequential micro-batches.

Every family computes its networks' gradients through `value_and_grad`, so gradient
accumulation (config.train.microbatches = k) is this one function: the batch is split into k
micro-batches, one `lax.scan` iteration each (activations of one micro-batch alive at a time),
gradients summed and averaged, then the family applies one optimizer update. For an objective
that is a mean over examples this equals the whole batch up to float addition order, except:
- batch norm normalizes each micro-batch by its own statistics (as data parallelism without
  cross-device BN would); the running statistics become the average of the k micro-batch
  updates (the running mean exactly the whole batch's; the variance the mean of the k
  micro-batch variances);
- random draws inside the objective (dropout, DiffAugment, penalty interpolation) come from
  fold_in(rng, i) for micro-batch i, so they differ from the whole batch's.
"""
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp


class Rows(NamedTuple):
  """An aux output with one row per example (e.g. generated images a D update then scores):
  reassembled from the micro-batches into the batch's row order, not averaged."""
  value: Any


def split_microbatches(inputs, microbatches: int):
  """[N, ...] leaves -> [k, N / k, ...]; micro-batch i takes rows i, i + k, i + 2k, ...: with
  the batch split over devices on its leading axis, every device keeps its own rows."""
  def split(x):
    x = jnp.asarray(x)
    return jnp.swapaxes(x.reshape(x.shape[0] // microbatches, microbatches, *x.shape[1:]), 0, 1)
  return jax.tree.map(split, inputs)


def merge_microbatches(stacked):
  """The inverse of split_microbatches: [k, N / k, ...] leaves -> [N, ...] in batch order."""
  return jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1).reshape(-1, *x.shape[2:]), stacked)


def _is_rows(x) -> bool:
  return isinstance(x, Rows)


def _merge_aux(stacked):
  """Rows reassembled; floating leaves averaged over the micro-batch axis; others the last."""
  def merge(x):
    if _is_rows(x):
      return merge_microbatches(x.value)
    return (jnp.mean(x, axis=0).astype(x.dtype) if jnp.issubdtype(x.dtype, jnp.floating)
            else x[-1])
  return jax.tree.map(merge, stacked, is_leaf=_is_rows)


def value_and_grad(objective: Callable[[Any, Any, jax.Array], tuple[jax.Array, Any]], params,
                   inputs, rng: jax.Array, microbatches: int = 1):
  """((loss, aux), grads) of `objective(params, inputs, rng) -> (loss, aux)`.

  `inputs` is a pytree of arrays with a leading batch axis (None leaves allowed); `rng` a key or
  a pytree of keys. With `microbatches` k > 1 the objective runs on k micro-batches of N / k
  rows in a lax.scan with keys fold_in(key, i); loss, grads and the floating leaves of `aux`
  (scalar metrics, mutable collections) are their means over the micro-batches, `Rows` in aux
  are reassembled in batch order, other leaves are the last micro-batch's. With k = 1 it is
  jax.value_and_grad on the whole batch with `rng` itself. `Rows` come back unwrapped.
  """
  grad_fn = jax.value_and_grad(objective, has_aux=True)
  if microbatches == 1:
    (loss, aux), grads = grad_fn(params, inputs, rng)
    return (loss, jax.tree.map(lambda x: x.value if _is_rows(x) else x, aux,
                               is_leaf=_is_rows)), grads

  def accumulate(grad_sum, index_and_inputs):
    index, micro_inputs = index_and_inputs
    keys = jax.tree.map(lambda key: jax.random.fold_in(key, index), rng)
    (loss, aux), grads = grad_fn(params, micro_inputs, keys)
    return jax.tree.map(jnp.add, grad_sum, grads), (loss, aux)

  grad_sum, (losses, aux) = jax.lax.scan(
      accumulate, jax.tree.map(jnp.zeros_like, params),
      (jnp.arange(microbatches), split_microbatches(inputs, microbatches)))
  grads = jax.tree.map(lambda g: g / microbatches, grad_sum)
  return (jnp.mean(losses), _merge_aux(aux)), grads


def microbatches(config) -> int:
  """config.train.microbatches (1 for a config from before it, e.g. an old config.json)."""
  return config.train.get('microbatches', 1)
