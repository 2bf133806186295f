"""What a trained network costs at inference: parameters read and multiply-accumulates per image.

  inference_cost(family, state) -> {'function', 'parameters', 'macs_per_image', 'weight_bytes'}
                                   or None

The inference function is the one a run is served by (jaxgan/inference/api.py): `generate` from
one latent (and label), else `translate` (an unpaired run's a2b) or `inpaint` of one image at the
input size of the family's last phase. Runs with only `sample` (PixelCNN draws pixel by pixel,
one network pass per pixel inside a loop) have no fixed per-image cost here: None.

Parameters: the elements of the networks' `params` and `ema_params` leaves that the function
reads (found from its jaxpr), so a GAN counts its EMA generator, not the discriminator, the
optimizer moments or frozen networks (VGG16, a distillation teacher); mutable collections such
as batch statistics are not parameters.

MACs: XLA's cost analysis of the compiled function at batch 1, 'flops' / 2. XLA counts a
convolution or matmul as 2 flops per multiply-add of an input element that exists: taps that
fall on SAME padding are not counted (a VALID k x k conv is exactly H_out*W_out*C_in*C_out*k*k
MACs). Elementwise ops (bias adds, normalization, activations) count 1 flop each, i.e. half a
MAC; transcendentals (tanh, exp) are counted apart by XLA and not included. The figures are
for the backend the function compiles on (tests: XLA:CPU).

Weight bytes: the bytes of those parameter leaves as the state holds them: 4 per float32
parameter, or an int8 model's kernels at 1 byte plus their float32 scales
(jaxgan/compression/quantize.py).
"""
import jax
from jax.extend import core as jax_core
import numpy as np

from jaxgan.families import base

PARAMETER_FIELDS = ('params', 'ema_params')  # NetworkState fields that hold parameters


def used_leaves(jaxpr: jax_core.ClosedJaxpr, num_leaves: int) -> list[int]:
  """Indices of the first `num_leaves` inputs of `jaxpr` that the output depends on: a backward
  liveness pass, so an equation whose results nothing uses (an int8 model dequantizing a kernel
  the served function never reads) does not count its inputs. An equation with a live result
  counts all its inputs (a nested jaxpr is not entered)."""
  live = {v for v in jaxpr.jaxpr.outvars if not isinstance(v, jax_core.Literal)}
  for eqn in reversed(jaxpr.jaxpr.eqns):
    if eqn.effects or any(v in live for v in eqn.outvars):
      live |= {v for v in eqn.invars if not isinstance(v, jax_core.Literal)}
  return [i for i, v in enumerate(jaxpr.jaxpr.invars[:num_leaves]) if v in live]


def is_parameter(path) -> bool:
  return any(isinstance(key, jax.tree_util.GetAttrKey) and key.name in PARAMETER_FIELDS
             for key in path)


def parameter_leaves_read(fn, state, *inputs) -> list[tuple]:
  """(key path, leaf) of the params / ema_params leaves of `state` that fn(state, *inputs) reads."""
  with_paths, treedef = jax.tree_util.tree_flatten_with_path(state)
  leaves = [leaf for _, leaf in with_paths]
  jaxpr = jax.make_jaxpr(lambda leaves, *inputs: fn(jax.tree.unflatten(treedef, leaves),
                                                    *inputs))(leaves, *inputs)
  return [with_paths[i] for i in used_leaves(jaxpr, len(leaves)) if is_parameter(with_paths[i][0])]


def parameters_read(fn, state, *inputs) -> int:
  """Elements of the params / ema_params leaves of `state` that fn(state, *inputs) reads."""
  return int(sum(np.size(leaf) for _, leaf in parameter_leaves_read(fn, state, *inputs)))


def parameter_bytes(fn, state, *inputs) -> int:
  """Bytes of those leaves as `state` holds them (int8 kernels and their scales, if quantized)."""
  return int(sum(np.size(leaf) * np.dtype(leaf.dtype).itemsize
                 for _, leaf in parameter_leaves_read(fn, state, *inputs)))


def macs(fn, *args) -> float:
  """Multiply-accumulates of fn(*args) from XLA's cost analysis: 'flops' / 2 (module doc)."""
  return float(jax.jit(fn).lower(*args).compile().cost_analysis()['flops']) / 2


def inference_function(family) -> tuple[str, object, tuple] | None:
  """(name, fn(state, *inputs), inputs of one example) of what serves the family, or None."""
  example = jax.tree.map(lambda s: np.zeros((1, *s.shape[1:]), s.dtype),
                         family.example_batch(base.phases(family)[-1]))
  if base.has(family, 'generate'):
    latents = np.zeros((1, family.latent_dim), np.float32)
    if family.label_classes:
      return 'generate', family.generate, (latents, np.zeros((1,), np.int32))
    return 'generate', lambda state, z: family.generate(state, z), (latents,)
  if base.has(family, 'translate'):
    inputs = base.translation_inputs(family)
    return 'translate', family.translate, (np.zeros((1, *inputs.shape[1:]), inputs.dtype),)
  if base.has(family, 'inpaint'):
    return 'inpaint', family.inpaint, (example['input'], example['mask'])
  return None


def inference_cost(family, state, prepare=None) -> dict | None:
  """{'function', 'parameters', 'macs_per_image', 'weight_bytes'} of the family's inference
  function on `state` (module doc), or None for a family without one of fixed cost. `prepare`
  maps a stored state to the one the family takes (jaxgan/compression/quantize.py dequantizes
  int8 kernels): parameters and MACs are the network's, weight_bytes the stored parameters'."""
  found = inference_function(family)
  if found is None:
    return None
  name, fn, inputs = found
  network_state = state if prepare is None else jax.jit(prepare)(state)
  stored_fn = fn if prepare is None else lambda state, *inputs: fn(prepare(state), *inputs)
  return {'function': name, 'parameters': parameters_read(fn, network_state, *inputs),
          'macs_per_image': macs(fn, network_state, *inputs),
          'weight_bytes': parameter_bytes(stored_fn, state, *inputs)}
