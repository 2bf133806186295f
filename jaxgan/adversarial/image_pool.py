"""A history of generated images for the discriminator (Shrivastava et al. 2017, arXiv:1612.07828;
CycleGAN, Zhu et al. 2017, section 4): D is updated on a mix of the newest fakes and older ones,
so it does not forget what earlier generators produced and G cannot oscillate between modes.

The pool is part of the train state (a pytree of arrays), so a resumed run sees exactly the
images an uninterrupted one sees. `query` is the reference's rule (pytorch-CycleGAN-and-pix2pix
util/image_pool.py), image by image in batch order:
  the pool holds fewer than `size` images  ->  store the new image, return it;
  else with probability 1/2                 ->  return a uniformly chosen stored image and put
                                                the new one in its place;
  else                                      ->  return the new image, the pool unchanged.
A family without a pool keeps none in its state (orbax cannot save an empty array).
"""
from typing import NamedTuple

import jax
import jax.numpy as jnp


class ImagePool(NamedTuple):
  """`images` [size, H, W, C] of which the first `count` are filled."""
  images: jax.Array
  count: jax.Array


def create(size: int, image_shape: tuple, dtype=jnp.float32) -> ImagePool:
  """An empty pool of `size` images of shape `image_shape` (H, W, C)."""
  if size < 1:
    raise ValueError(f'An image pool holds size >= 1 images, got {size}.')
  return ImagePool(jnp.zeros((size,) + tuple(image_shape), dtype), jnp.zeros((), jnp.int32))


def query(pool: ImagePool, images: jax.Array, rng: jax.Array) -> tuple[ImagePool, jax.Array]:
  """(the updated pool, the images D is shown instead of `images` [N, H, W, C]). Image i's
  draws come from fold_in(rng, i): a coin and a slot."""
  size = pool.images.shape[0]
  images = images.astype(pool.images.dtype)

  def one(carry, inputs):
    stored, count = carry
    image, index = inputs
    coin_rng, slot_rng = jax.random.split(jax.random.fold_in(rng, index))
    filling = count < size
    swap = jnp.logical_and(~filling, jax.random.uniform(coin_rng) < 0.5)
    slot = jnp.where(filling, jnp.minimum(count, size - 1),
                     jax.random.randint(slot_rng, (), 0, size))
    old = stored[slot]
    shown = jnp.where(swap, old, image)
    stored = stored.at[slot].set(jnp.where(jnp.logical_or(filling, swap), image, old))
    return (stored, count + filling.astype(count.dtype)), shown

  (stored, count), shown = jax.lax.scan(
      one, (pool.images, pool.count), (images, jnp.arange(images.shape[0])))
  return ImagePool(stored, count), shown
