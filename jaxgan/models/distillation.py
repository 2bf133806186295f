"""What feature distillation needs of a generator (GAN Compression, Li et al. 2020,
arXiv:2003.08936, sec. 3.2): its intermediate features, and learned 1x1 convolutions that map a
narrow student's features to its teacher's widths.

A generator's features, one definition for every generator: the [N, h, w, C] outputs of its
normalization layers (flax BatchNorm, instance norm), in call order: each spatial block's
normalized features, before its activation (DCGAN's BatchNorm layers; pix2pix's U-Net and
CycleGAN's ResNet generator, instance or batch norm). A generator with no normalization layer
(SRResNet, RRDB: no BN, as EDSR) has its hidden convolutions' outputs instead: every [N, h, w, C]
convolution output but the last one (which makes the image). They are read by a flax method
interceptor, so the generators need no extra output.
"""
from typing import Sequence

import flax.linen as nn
import jax

from jaxgan.models import normalization

NORMALIZATIONS = (nn.BatchNorm, normalization.InstanceNorm)
CONVOLUTIONS = (nn.Conv, nn.ConvTranspose)


def apply_with_features(module: nn.Module, variables: dict, *args, mutable=(), **kwargs):
  """(outputs, features, updated `mutable` collections) of module.apply(variables, *args,
  **kwargs); `features` as the module docstring defines them."""
  normalized, convolved = [], []

  def record(next_fun, call_args, call_kwargs, context):
    output = next_fun(*call_args, **call_kwargs)
    if context.method_name == '__call__' and getattr(output, 'ndim', 0) == 4:
      if isinstance(context.module, NORMALIZATIONS):
        normalized.append(output)
      elif isinstance(context.module, CONVOLUTIONS):
        convolved.append(output)
    return output

  with nn.intercept_methods(record):
    outputs, collections = module.apply(variables, *args, mutable=list(mutable), **kwargs)
  return outputs, normalized or convolved[:-1], dict(collections)


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
