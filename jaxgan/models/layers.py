"""Layers shared by the generators and discriminators.

`ConvTranspose` is the transposed convolution every generator uses: a drop-in for
`flax.linen.ConvTranspose(padding='SAME')` (same parameter names, shapes and outputs) that
computes the same function as one stride-1 convolution followed by depth-to-space.

Why: a stride-s transposed convolution is a convolution over the input dilated by s. XLA:CPU
differentiates that dilated convolution several times slower than PyTorch does (its
kernel-gradient runs over an input that is mostly zeros). Splitting the output by phase, pixel
(s*m + p) of the output only sees input pixels m + d with kernel tap t = s*d + pad - p, so all
s*s phases are one ordinary convolution of the undilated input with a rearranged kernel
[K', K', C_in, s*s*C_out], whose output is interleaved back (depth-to-space; Shi et al. 2016,
arXiv:1609.05158, the sub-pixel view of the transposed convolution). Forward and both gradients
are then plain stride-1 convolutions.
"""
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def same_transpose_padding(kernel: int, stride: int) -> int:
  """Zeros `lax.conv_transpose(padding='SAME')` puts before the dilated input (per dim)."""
  total = kernel + stride - 2
  return kernel - 1 if stride > kernel - 1 else int(np.ceil(total / 2))


def subpixel_offsets(kernel: int, stride: int) -> np.ndarray:
  """Input offsets d (per dim) that some output phase reads: output s*m + p sees x[m + d]."""
  pad = same_transpose_padding(kernel, stride)
  return np.arange(-(pad // stride), (stride - 1 + kernel - 1 - pad) // stride + 1)


def subpixel_taps(kernel: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
  """For one spatial dim: (taps [K', s], valid [K', s]).

  Output pixel s*m + p is the sum over a of x[m + offsets[a]] * w[taps[a, p]] where valid[a, p];
  invalid entries are zero in the rearranged kernel.
  """
  offsets = subpixel_offsets(kernel, stride)[:, None]
  taps = stride * offsets + same_transpose_padding(kernel, stride) - np.arange(stride)[None, :]
  valid = (taps >= 0) & (taps < kernel)
  return np.where(valid, taps, 0), valid


def subpixel_kernel(kernel: jax.Array, strides: Sequence[int]) -> jax.Array:
  """[kh, kw, C_in, C_out] transposed-conv kernel -> [K'h, K'w, C_in, sh*sw*C_out] conv kernel.

  Output channels are ordered (phase_h, phase_w, C_out), as `depth_to_space` expects.
  """
  (kh, kw, c_in, c_out), (sh, sw) = kernel.shape, strides
  taps_h, valid_h = subpixel_taps(kh, sh)
  taps_w, valid_w = subpixel_taps(kw, sw)
  # gathered[a, p, b, q] = kernel[taps_h[a, p], taps_w[b, q]]
  gathered = kernel[taps_h[:, :, None, None], taps_w[None, None, :, :]]
  mask = (valid_h[:, :, None, None] & valid_w[None, None, :, :]).astype(kernel.dtype)
  gathered = gathered * mask[..., None, None]  # [K'h, sh, K'w, sw, C_in, C_out]
  gathered = gathered.transpose(0, 2, 4, 1, 3, 5)  # [K'h, K'w, C_in, sh, sw, C_out]
  return gathered.reshape(gathered.shape[0], gathered.shape[1], c_in, sh * sw * c_out)


def depth_to_space(x: jax.Array, strides: Sequence[int]) -> jax.Array:
  """[N, H, W, sh*sw*C] with channels (phase_h, phase_w, C) -> [N, H*sh, W*sw, C]."""
  n, h, w, channels = x.shape
  sh, sw = strides
  c = channels // (sh * sw)
  x = x.reshape(n, h, w, sh, sw, c).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(n, h * sh, w * sw, c)


class ConvTranspose(nn.Module):
  """Transposed 2-D convolution, 'SAME' padding, NHWC; equals nn.ConvTranspose(padding='SAME').

  Output size is input size times stride. Parameters: `kernel` [kh, kw, C_in, features] (not
  flipped, as flax's `transpose_kernel=False`) and `bias` [features].
  """
  features: int
  kernel_size: Sequence[int]
  strides: Sequence[int] = (1, 1)
  padding: str = 'SAME'
  use_bias: bool = True
  kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
  bias_init: nn.initializers.Initializer = nn.initializers.zeros_init()
  dtype: jnp.dtype | None = None
  param_dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, inputs: jax.Array) -> jax.Array:
    if self.padding != 'SAME':
      raise ValueError(f"ConvTranspose supports padding='SAME' only, got {self.padding!r}.")
    kernel_size, strides = tuple(self.kernel_size), tuple(self.strides)
    kernel = self.param('kernel', self.kernel_init,
                        kernel_size + (inputs.shape[-1], self.features), self.param_dtype)
    bias = (self.param('bias', self.bias_init, (self.features,), self.param_dtype)
            if self.use_bias else None)
    inputs, kernel, bias = nn.dtypes.promote_dtype(inputs, kernel, bias, dtype=self.dtype)
    padding = [(-int(d[0]), int(d[-1])) for d in map(subpixel_offsets, kernel_size, strides)]
    outputs = jax.lax.conv_general_dilated(
        inputs, subpixel_kernel(kernel, strides), window_strides=(1, 1), padding=padding,
        dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    outputs = depth_to_space(outputs, strides)
    return outputs + bias if bias is not None else outputs
