"""Post-training int8 weights for inference: `jaxgan.load(workdir, quantize='int8')`.

  stored, report = quantize_state(family, state)   # int8 kernels + float32 scales
  family.generate(dequantize_state(stored), z)     # inside the jitted function

Every kernel the run's inference functions read (Dense, Conv, the sub-pixel ConvTranspose,
embeddings: parameter leaves of 2+ dims) is held as int8 with one float32 scale per output
channel (the last axis, as flax lays kernels out): scale = max|w| / 127 over the channel,
values = round(w / scale) in [-127, 127], so each weight is off by at most scale / 2 (symmetric
per-channel absmax quantization; Krishnamoorthi 2018, arXiv:1806.08342, sec. 2). Biases, norm
scales and batch statistics (1-D leaves) stay float32. Per-output-channel scales
make folding a BatchNorm's positive gamma into the kernel before quantizing pointless: the int8
values of gamma * w are those of w, so BN stays a float op after the dequantized convolution.

Why not qwix (0.1.8; Google's PTQ library for Flax): it intercepts lax.conv_general_dilated and
quantizes the right-hand side it finds among the calling module's params. This project's
ConvTranspose (models/layers.py) convolves a kernel rearranged from its param (gather, mask,
reshape to [K', K', C_in, s*s*C_out]), which qwix cannot trace back to a param: building the
quantized DCGAN generator fails ('ValueError: Unsupported type: NoneType'). And its convolution
rule refuses int8 weights with float activations ('conv_general_dilated requires same act_qtype
and weight_qtype'). So the weights are quantized here, on the state, for any family; activations
stay float32 (experiments/quantization.py measures what int8 activations would buy).

Weights are dequantized inside the jitted function at each call (int8 -> float32 and one
multiply per weight); XLA then runs the float32 network. experiments/quantization.py measures
what that costs in latency.
"""
import flax
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import config_lib
from jaxgan.families import base
from jaxgan.inference import cost

MODES = ('int8',)
INT8_MAX = 127


def check_mode(quantize: str | None) -> None:
  """A ConfigError unless `quantize` is None or one of MODES."""
  if quantize is not None and quantize not in MODES:
    raise config_lib.ConfigError(
        f'quantize={quantize!r} is not a quantization: pass one of {list(MODES)} or None.')


@flax.struct.dataclass
class Int8Kernel:
  """A kernel as int8 `values` (its shape) and float32 `scale` [C_out] per output channel."""
  values: jax.Array
  scale: jax.Array


def quantize_kernel(kernel) -> Int8Kernel:
  """Symmetric per-output-channel int8 (module doc); an all-zero channel gets scale 1."""
  kernel = jnp.asarray(kernel, jnp.float32)
  absmax = jnp.max(jnp.abs(kernel), axis=tuple(range(kernel.ndim - 1)))
  scale = jnp.where(absmax > 0, absmax / INT8_MAX, 1.0)
  values = jnp.clip(jnp.round(kernel / scale), -INT8_MAX, INT8_MAX).astype(jnp.int8)
  return Int8Kernel(values, scale)


def dequantize_kernel(kernel: Int8Kernel) -> jax.Array:
  return kernel.values.astype(jnp.float32) * kernel.scale


def _is_int8(x) -> bool:
  return isinstance(x, Int8Kernel)


def dequantize_state(state):
  """`state` with every Int8Kernel replaced by its float32 kernel (call inside jit)."""
  return jax.tree.map(lambda x: dequantize_kernel(x) if _is_int8(x) else x, state,
                      is_leaf=_is_int8)


def served_functions(family) -> list[tuple]:
  """(fn(state, *inputs), inputs of one example) of every function a Model serves the family
  by: its inference function (cost.inference_function), an unpaired run's b2a translation,
  or `sample` for a family with only that (PixelCNN)."""
  found = cost.inference_function(family)
  if found is None:
    key = jax.random.key(0)
    return [(lambda state, key: family.sample(state, key, 1), (key,))]
  _, fn, inputs = found
  served = [(fn, inputs)]
  if base.has(family, 'bidirectional'):
    served.append((lambda state, x: family.translate_direction(state, x, 'b2a'), inputs))
  return served


def _parameter_paths_read(family, state) -> set:
  """Key paths of the params / ema_params leaves any served function reads."""
  return {path for fn, inputs in served_functions(family)
          for path, _ in cost.parameter_leaves_read(fn, state, *inputs)}


def quantize_state(family, state) -> tuple[object, dict]:
  """(`state` with the kernels its served functions read as Int8Kernel, a JSON-ready report
  of what was quantized and what stayed float32)."""
  read = _parameter_paths_read(family, state)
  quantized, kept = [], []

  def convert(path, leaf):
    if path not in read:
      return leaf
    name = jax.tree_util.keystr(path)
    if np.ndim(leaf) >= 2 and jnp.issubdtype(leaf.dtype, jnp.floating):
      quantized.append(name)
      return quantize_kernel(leaf)
    kept.append(name)
    return leaf
  stored = jax.tree_util.tree_map_with_path(convert, state)
  report = {
      'mode': 'int8',
      'weights': 'int8, symmetric, one float32 scale per output channel (max|w| / 127), '
                 'dequantized inside the jitted function',
      'activations': 'float32',
      'quantized': sorted(quantized), 'float32': sorted(kept),
  }
  return stored, report

