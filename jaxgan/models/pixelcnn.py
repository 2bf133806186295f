"""Gated PixelCNN (van den Oord et al. 2016, arXiv:1606.05328) without a blind spot.

Masked convolutions are written as shifted, asymmetrically padded convolutions (the form of
PixelCNN++, Salimans et al. 2017, arXiv:1701.05517), which is equivalent to masking the kernel
and spends no FLOPs on zeroed weights. The stacks keep two invariants, in raster order:

  vertical stack   v[i, j] depends only on input rows < i            (everything above)
  horizontal stack h[i, j] depends only on input pixels before (i, j) (above, and left in row i)

The first layer establishes them by shifting (the "mask A" layer: the current pixel is
excluded); later layers ("mask B") convolve the stacks over rows <= i and columns <= j, which
keeps them, and feed v[i, j] into h[i, j] (allowed: v[i, j] sees only rows above). A whole
pixel's channels are predicted together, so colour dependence inside a pixel belongs to the
output distribution (PixelCNN++'s logistic mixture), not to channel masks.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp


def shift_down(x: jax.Array) -> jax.Array:
  """Moves rows down by one (zero row on top): position i then holds row i - 1."""
  return jnp.pad(x, ((0, 0), (1, 0), (0, 0), (0, 0)))[:, :-1]


def shift_right(x: jax.Array) -> jax.Array:
  """Moves columns right by one (zero column on the left)."""
  return jnp.pad(x, ((0, 0), (0, 0), (1, 0), (0, 0)))[:, :, :-1]


class DownConv(nn.Module):
  """Conv whose output (i, j) sees rows i-h+1..i and columns j-(w-1)/2..j+(w-1)/2 (w odd)."""
  features: int
  height: int
  width: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    half = (self.width - 1) // 2
    x = jnp.pad(x, ((0, 0), (self.height - 1, 0), (half, half), (0, 0)))
    return nn.Conv(self.features, (self.height, self.width), padding='VALID')(x)


class DownRightConv(nn.Module):
  """Conv whose output (i, j) sees rows i-h+1..i and columns j-w+1..j."""
  features: int
  height: int
  width: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = jnp.pad(x, ((0, 0), (self.height - 1, 0), (self.width - 1, 0), (0, 0)))
    return nn.Conv(self.features, (self.height, self.width), padding='VALID')(x)


def gate(x: jax.Array) -> jax.Array:
  """tanh(a) * sigmoid(b) on the two halves of the channels (van den Oord et al. 2016, eq. 2)."""
  a, b = jnp.split(x, 2, axis=-1)
  return jnp.tanh(a) * jax.nn.sigmoid(b)


class GatedLayer(nn.Module):
  """One gated layer on (v, h): both stacks through gated convolutions, v -> h by a 1x1 conv,
  and a residual 1x1 conv on h. `first` makes it the mask-A input layer (shifted convs)."""
  features: int
  kernel_size: int
  first: bool = False

  @nn.compact
  def __call__(self, v: jax.Array, h: jax.Array):
    half = self.kernel_size // 2
    vertical = DownConv(2 * self.features, half + 1, self.kernel_size, name='vertical')(v)
    horizontal = DownRightConv(2 * self.features, 1, half + 1, name='horizontal')(h)
    if self.first:  # exclude the current row (v) and the current pixel (h)
      vertical, horizontal = shift_down(vertical), shift_right(horizontal)
    horizontal = horizontal + nn.Conv(2 * self.features, (1, 1), name='vertical_to_horizontal')(
        vertical)
    h_out = nn.Conv(self.features, (1, 1), name='horizontal_out')(gate(horizontal))
    if not self.first:
      h_out = h_out + h
    return gate(vertical), h_out


class GatedPixelCnn(nn.Module):
  """Images [N, H, W, C] in [-1, 1] -> per-pixel output parameters [N, H, W, out_features];
  the output at pixel i depends only on input pixels before i in raster order."""
  features: int
  num_layers: int
  kernel_size: int
  first_kernel_size: int  # the mask-A input layer's (7 in the paper)
  output_hidden: int
  out_features: int

  @nn.compact
  def __call__(self, images: jax.Array, return_stacks: bool = False):
    """Output parameters, or the final (vertical, horizontal) stacks if `return_stacks`."""
    v = h = images
    for layer in range(self.num_layers):
      kernel_size = self.kernel_size if layer else self.first_kernel_size
      v, h = GatedLayer(self.features, kernel_size, first=layer == 0, name=f'gated_{layer}')(v, h)
    if return_stacks:
      return v, h
    h = nn.Conv(self.output_hidden, (1, 1), name='output_hidden')(nn.relu(h))
    return nn.Conv(self.out_features, (1, 1), name='output')(nn.relu(h))
