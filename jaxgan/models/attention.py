"""Self-attention block of SAGAN (Zhang et al. 2018, arXiv:1805.08318, section 4).

f(x), g(x): 1x1 convolutions to C/8 channels; h(x): 1x1 convolution to C channels. The attention
map beta = softmax over positions i of f(x_i)^T g(x_j); o_j = v(sum_i beta_{j,i} h(x_i)) with a
1x1 convolution v; the output is x + gamma * o with gamma initialized to 0, so the block starts as
the identity and the network learns how much non-local evidence to use. Attention logits and the
softmax are computed in float32 under mixed precision.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import normalization


class SelfAttention(nn.Module):
  """x [N, H, W, C] -> x + gamma * attention output, same shape."""
  options: normalization.NetworkOptions

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    opts = self.options
    num, height, width, channels = x.shape
    key_channels = max(channels // 8, 1)

    def conv1x1(features, name):
      conv = nn.Conv(features, (1, 1), dtype=opts.dtype, name=name)
      return normalization.spectral(conv, opts.spectral_norm, train, opts.spectral_norm_steps)

    def positions(y):
      return y.reshape(num, height * width, y.shape[-1])

    query = positions(conv1x1(key_channels, 'f')(x))
    key = positions(conv1x1(key_channels, 'g')(x))
    value = positions(conv1x1(channels, 'h')(x))
    logits = jnp.einsum('nic,njc->nji', query, key, preferred_element_type=jnp.float32)
    beta = jax.nn.softmax(logits, axis=-1).astype(value.dtype)  # beta[n, j, i], sums to 1 over i
    attended = jnp.einsum('nji,nic->njc', beta, value).reshape(num, height, width, channels)
    out = conv1x1(channels, 'v')(attended)
    gamma = self.param('gamma', nn.initializers.zeros, ())
    return x + gamma.astype(out.dtype) * out
