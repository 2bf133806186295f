"""Johnson et al. 2016's image transformation network for fast style transfer (arXiv:1603.08155).

Takes and gives NHWC images in [-1, 1], of the same size.

  TransformNet      Johnson et al.'s network (supplementary material) as the pytorch/examples
                    fast_neural_style TransformerNet builds it: reflection-padded convolutions,
                    two stride-2 downsamplings, residual blocks, two upsample-then-convolve
                    layers, Ulyanov et al.'s instance norm (arXiv:1607.08022).
  upsample_nearest  Nearest-neighbour upsampling by an integer factor.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models.image_to_image import image_norm
from jaxgan.models.unpaired import reflect_conv


def upsample_nearest(x: jax.Array, factor: int = 2) -> jax.Array:
  """[N, H, W, C] -> [N, factor * H, factor * W, C], each pixel copied into a factor x factor
  block: PyTorch's interpolate(mode='nearest', scale_factor=factor)."""
  if not isinstance(factor, int) or factor < 1:
    raise ValueError(f'upsample_nearest needs a positive integer factor; got {factor!r}.')
  n, h, w, c = x.shape
  x = jnp.broadcast_to(x[:, :, None, :, None, :], (n, h, factor, w, factor, c))
  return x.reshape(n, h * factor, w * factor, c)


class TransformNet(nn.Module):
  """Johnson et al. 2016's image transformation network (arXiv:1603.08155, supplementary), as
  pytorch/examples' fast_neural_style TransformerNet builds it, with its instance norm (affine,
  Ulyanov et al., arXiv:1607.08022) after every convolution but the last:

    reflect pad 4 + 9x9 conv to F, IN, ReLU;
    reflect pad 1 + 3x3 stride-2 conv to 2F, IN, ReLU; the same to 4F;
    `num_blocks` residual blocks x + (pad 1, 3x3 conv, IN, ReLU, pad 1, 3x3 conv, IN);
    two upsample-then-convolve layers (nearest 2x, reflect pad 1 + 3x3 conv, IN, ReLU) to 2F, F;
    reflect pad 4 + 9x9 conv to `out_channels`, tanh.

  F is `features` (32 in the reference). Nearest upsampling followed by a convolution replaces
  the paper's fractionally strided convolutions, which leave checkerboard artifacts (Odena et
  al. 2016, distill.pub/2016/deconv-checkerboard). All convolutions have biases, as the
  reference. Image sides must be multiples of 4 and at least 8: reflection padding needs more
  pixels than it pads (4 at full size, 1 at a quarter). The output has the input's size.

  Differs from the reference: it returns unbounded values on a 0-255 scale, ours ends in tanh
  for [-1, 1] images; its weights start at PyTorch's default init, ours N(0, 0.02)
  (image_to_image.PIX2PIX_INIT, as CycleGAN's generator). `train` is unused (instance norm
  behaves alike in both modes) and kept for the generators' common signature.
  """
  out_channels: int = 3
  features: int = 32
  num_blocks: int = 5

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    if self.num_blocks < 0:
      raise ValueError(f'TransformNet needs num_blocks >= 0; got {self.num_blocks}.')
    height, width = x.shape[1:3]
    if height % 4 or width % 4 or min(height, width) < 8:
      raise ValueError('TransformNet needs image sides that are multiples of 4 and at least 8 '
                       f'(reflection padding needs more pixels than it pads); got {height}x'
                       f'{width}.')

    def conv_norm_relu(x, features, kernel, name, stride=1):
      x = reflect_conv(x, features, kernel, True, name, stride)
      return nn.relu(image_norm('instance', train, f'{name}_norm')(x))

    x = conv_norm_relu(x, self.features, 9, 'in_conv')
    x = conv_norm_relu(x, 2 * self.features, 3, 'down_0', stride=2)
    x = conv_norm_relu(x, 4 * self.features, 3, 'down_1', stride=2)
    for b in range(self.num_blocks):
      y = conv_norm_relu(x, 4 * self.features, 3, f'block_{b}_conv_0')
      y = reflect_conv(y, 4 * self.features, 3, True, f'block_{b}_conv_1')
      x = x + image_norm('instance', train, f'block_{b}_conv_1_norm')(y)
    x = conv_norm_relu(upsample_nearest(x), 2 * self.features, 3, 'up_1')
    x = conv_norm_relu(upsample_nearest(x), self.features, 3, 'up_0')
    return jnp.tanh(reflect_conv(x, self.out_channels, 9, True, 'out_conv'))
