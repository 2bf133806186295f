"""The image pool (jaxgan/adversarial/image_pool.py) against a plain-Python twin of the reference
ImagePool (pytorch-CycleGAN-and-pix2pix util/image_pool.py) driven by the same draws, and its
statistics."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.adversarial import image_pool

SHAPE = (2, 2, 1)


def _images(start: int, count: int) -> np.ndarray:
  """Images whose every pixel is their serial number: start, start + 1, ..."""
  return np.arange(start, start + count, dtype=np.float32)[:, None, None, None] * np.ones(SHAPE,
                                                                                          np.float32)


def _reference_query(stored: list, size: int, images: np.ndarray, rng) -> list:
  """The reference's rule, image by image, with image i's coin and slot drawn as query draws
  them (fold_in(rng, i), split into the coin's key and the slot's)."""
  shown = []
  for i, image in enumerate(images):
    coin_key, slot_key = jax.random.split(jax.random.fold_in(rng, i))
    if len(stored) < size:
      stored.append(image)
      shown.append(image)
    elif float(jax.random.uniform(coin_key)) < 0.5:
      slot = int(jax.random.randint(slot_key, (), 0, size))
      shown.append(stored[slot])
      stored[slot] = image
    else:
      shown.append(image)
  return shown


def test_query_follows_the_reference_rule_with_a_fixed_key():
  size, pool = 4, image_pool.create(4, SHAPE)
  stored = []
  query = jax.jit(image_pool.query)
  for step, count in enumerate((3, 3, 6, 5)):  # fills, then swaps and passes through
    images = _images(100 * (step + 1), count)
    rng = jax.random.key(step)
    pool, shown = query(pool, jnp.asarray(images), rng)
    expected = _reference_query(stored, size, images, rng)
    np.testing.assert_array_equal(np.asarray(shown), np.stack(expected))
    assert int(pool.count) == len(stored)
    np.testing.assert_array_equal(np.asarray(pool.images)[:len(stored)], np.stack(stored))


def test_every_image_is_either_shown_or_kept():
  """Conservation: what goes in (the pool's images + the new ones) = what is shown + kept."""
  pool = image_pool.create(5, SHAPE)
  pool, _ = image_pool.query(pool, jnp.asarray(_images(0, 5)), jax.random.key(0))
  new = _images(10, 7)
  after, shown = image_pool.query(pool, jnp.asarray(new), jax.random.key(1))
  before = np.concatenate([np.asarray(pool.images), new])[:, 0, 0, 0]
  out = np.concatenate([np.asarray(after.images), np.asarray(shown)])[:, 0, 0, 0]
  np.testing.assert_array_equal(np.sort(before), np.sort(out))


def test_a_full_pool_returns_a_stored_image_half_of_the_time_from_uniform_slots():
  size, count = 10, 4000
  pool = image_pool.create(size, SHAPE)
  pool, _ = image_pool.query(pool, jnp.asarray(_images(-size, size)), jax.random.key(0))
  pool, shown = jax.jit(image_pool.query)(pool, jnp.asarray(_images(0, count)), jax.random.key(1))
  shown = np.asarray(shown)[:, 0, 0, 0]
  from_pool = shown != np.arange(count)
  # Binomial(4000, 1/2): 3 standard deviations are 95 images.
  assert abs(from_pool.sum() - count / 2) < 95
  # A swapped-out image entered the pool earlier (or was one of the first `size`).
  assert np.all(shown[from_pool] < np.arange(count)[from_pool])
  # The first swaps return the initial images, each slot equally likely: every one shows up.
  initial = shown[(shown < 0)]
  assert set(initial.astype(int)) == set(range(-size, 0))


def test_an_empty_pool_is_refused():
  with pytest.raises(ValueError, match='size >= 1'):
    image_pool.create(0, SHAPE)
