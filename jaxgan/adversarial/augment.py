"""DiffAugment (Zhao et al. 2020, arXiv:2006.10738): differentiable augmentations for D's inputs.

The same random transformations family is applied to real and generated images every time D
sees them (in D's and in G's update), so G's gradients flow through the augmentation and D
cannot overfit a small dataset. The functions follow the authors' reference implementation
(github.com/mit-han-lab/data-efficient-gans, DiffAugment_tf.py) for images in [-1, 1]:
  color        brightness + U(-0.5, 0.5); saturation x U(0, 2); contrast x U(0.5, 1.5)
  translation  integer shift by up to 1/8 of the side in each axis, zero padded
  cutout       one zeroed square of half the side at a random position
Each example draws its own parameters. `config.gan.augment` is a comma-separated policy, e.g.
'color,translation,cutout', or '' for none.
"""
import jax
import jax.numpy as jnp

from jaxgan import config_lib


def _per_example(rng, images, low=0.0, high=1.0):
  return jax.random.uniform(rng, (images.shape[0], 1, 1, 1), images.dtype, low, high)


def color(images: jax.Array, rng: jax.Array) -> jax.Array:
  brightness_rng, saturation_rng, contrast_rng = jax.random.split(rng, 3)
  images = images + _per_example(brightness_rng, images, -0.5, 0.5)
  mean = jnp.mean(images, axis=3, keepdims=True)
  images = (images - mean) * _per_example(saturation_rng, images, 0.0, 2.0) + mean
  mean = jnp.mean(images, axis=(1, 2, 3), keepdims=True)
  return (images - mean) * _per_example(contrast_rng, images, 0.5, 1.5) + mean


def translate(images: jax.Array, dy: jax.Array, dx: jax.Array) -> jax.Array:
  """out[n, i, j] = images[n, i + dy[n], j + dx[n]], zero where that falls outside."""
  num, height, width, _ = images.shape
  rows = jnp.arange(height)[None] + dy.reshape(num, 1)  # [N, H]
  cols = jnp.arange(width)[None] + dx.reshape(num, 1)  # [N, W]
  valid = (((rows >= 0) & (rows < height))[:, :, None] & ((cols >= 0) & (cols < width))[:, None])
  rows, cols = jnp.clip(rows, 0, height - 1), jnp.clip(cols, 0, width - 1)
  gathered = jax.vmap(lambda image, r, c: image[r][:, c])(images, rows, cols)
  return jnp.where(valid[..., None], gathered, jnp.zeros((), images.dtype))


def translation(images: jax.Array, rng: jax.Array, ratio: float = 0.125) -> jax.Array:
  """Shifts by integers |dy|, |dx| <= ratio * side, uniform per example."""
  num, height, width, _ = images.shape
  shift_y, shift_x = int(height * ratio + 0.5), int(width * ratio + 0.5)
  y_rng, x_rng = jax.random.split(rng)
  return translate(images, jax.random.randint(y_rng, (num,), -shift_y, shift_y + 1),
                   jax.random.randint(x_rng, (num,), -shift_x, shift_x + 1))


def cut(images: jax.Array, top: jax.Array, left: jax.Array, size: tuple[int, int]) -> jax.Array:
  """Zeroes rows top[n] .. top[n] + size[0] - 1 x columns left[n] .. (clipped to the image)."""
  num, height, width, _ = images.shape
  top, left = top.reshape(num, 1), left.reshape(num, 1)
  rows, cols = jnp.arange(height)[None], jnp.arange(width)[None]
  inside_y = (rows >= top) & (rows < top + size[0])
  inside_x = (cols >= left) & (cols < left + size[1])
  keep = ~(inside_y[:, :, None] & inside_x[:, None, :])
  return images * keep[..., None].astype(images.dtype)


def cutout(images: jax.Array, rng: jax.Array, ratio: float = 0.5) -> jax.Array:
  """Zeroes a (ratio * side)^2 square whose centre is uniform over the image."""
  num, height, width, _ = images.shape
  size_y, size_x = int(height * ratio + 0.5), int(width * ratio + 0.5)
  y_rng, x_rng = jax.random.split(rng)
  top = jax.random.randint(y_rng, (num,), 0, height + (1 - size_y % 2)) - size_y // 2
  left = jax.random.randint(x_rng, (num,), 0, width + (1 - size_x % 2)) - size_x // 2
  return cut(images, top, left, (size_y, size_x))


AUGMENTATIONS = {'color': color, 'translation': translation, 'cutout': cutout}


def parse_policy(policy: str) -> tuple[str, ...]:
  """'color,translation' -> ('color', 'translation'); raises on an unknown name."""
  names = tuple(name.strip() for name in policy.split(',') if name.strip())
  unknown = [name for name in names if name not in AUGMENTATIONS]
  if unknown:
    raise config_lib.ConfigError(
        f'Unknown augmentation(s) {unknown} in config.gan.augment={policy!r}; '
        f'use a comma-separated subset of {sorted(AUGMENTATIONS)} or "".')
  return names


def diff_augment(images: jax.Array, rng: jax.Array, policy: tuple[str, ...]) -> jax.Array:
  """Applies the policy's augmentations in order, each with its own key."""
  for name, key in zip(policy, jax.random.split(rng, max(len(policy), 1))):
    images = AUGMENTATIONS[name](images, key)
  return images
