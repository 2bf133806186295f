"""What feature distillation needs of a generator (GAN Compression, Li et al. 2020,
arXiv:2003.08936, sec. 3.2): its intermediate features, and learned 1x1 convolutions that map a
narrow student's features to its teacher's widths.

The features are read with flax's `capture_intermediates`, so the generators need no extra
output: the outputs of their BatchNorm layers of rank 4 ([N, h, w, C]: each spatial block's
normalized features, before its activation), in layer order.
"""
from typing import Sequence

import flax.linen as nn
import jax


def _is_batch_norm(module: nn.Module, method_name: str) -> bool:
  return isinstance(module, nn.BatchNorm) and method_name == '__call__'


def _layer_index(name: str) -> int:
  return int(name.rsplit('_', 1)[1])  # 'BatchNorm_10' after 'BatchNorm_9'


def apply_with_features(module: nn.Module, variables: dict, *args, mutable=(), **kwargs):
  """(outputs, features, updated `mutable` collections) of module.apply(variables, *args,
  **kwargs); `features` are the [N, h, w, C] BatchNorm outputs in layer order."""
  outputs, updates = module.apply(variables, *args, capture_intermediates=_is_batch_norm,
                                  mutable=[*mutable, 'intermediates'], **kwargs)
  captured = updates['intermediates']
  features = [captured[name]['__call__'][0] for name in sorted(captured, key=_layer_index)]
  collections = {name: value for name, value in updates.items() if name != 'intermediates'}
  return outputs, [f for f in features if f.ndim == 4], collections


def feature_widths(generator: nn.Module, *args, **kwargs) -> list[int]:
  """Channels of each feature `apply_with_features` reads of `generator`, without compute."""
  def features():
    variables = generator.init(jax.random.key(0), *args, **kwargs)
    return apply_with_features(generator, variables, *args, **kwargs)[1]
  return [f.shape[-1] for f in jax.eval_shape(features)]


class FeatureMaps(nn.Module):
  """One 1x1 convolution per feature layer, from the student's width to `widths` (the
  teacher's)."""
  widths: Sequence[int]

  @nn.compact
  def __call__(self, features: list[jax.Array]) -> list[jax.Array]:
    return [nn.Conv(width, (1, 1))(x) for width, x in zip(self.widths, features)]
