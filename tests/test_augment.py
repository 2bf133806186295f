"""DiffAugment: each transformation against a numpy loop; differentiability; policy parsing."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.adversarial import augment

IMAGES = np.random.default_rng(0).uniform(-1, 1, (3, 8, 6, 2)).astype(np.float32)


def test_translate_matches_a_loop_with_zero_padding():
  dy, dx = np.array([0, 2, -3]), np.array([1, -1, 0])
  expected = np.zeros_like(IMAGES)
  for n in range(3):
    for i in range(8):
      for j in range(6):
        if 0 <= i + dy[n] < 8 and 0 <= j + dx[n] < 6:
          expected[n, i, j] = IMAGES[n, i + dy[n], j + dx[n]]
  np.testing.assert_array_equal(augment.translate(IMAGES, dy, dx), expected)


def test_cut_zeroes_exactly_the_square():
  top, left = np.array([-2, 3, 6]), np.array([0, 1, 4])
  expected = IMAGES.copy()
  for n in range(3):
    expected[n, max(top[n], 0):top[n] + 4, max(left[n], 0):left[n] + 3] = 0
  np.testing.assert_array_equal(augment.cut(IMAGES, top, left, (4, 3)), expected)


def test_color_keeps_shape_and_shifts_per_example():
  out = np.asarray(augment.color(IMAGES, jax.random.key(0)))
  assert out.shape == IMAGES.shape
  assert not np.allclose(out[0] - IMAGES[0], out[1] - IMAGES[1])


@pytest.mark.parametrize('name', sorted(augment.AUGMENTATIONS))
def test_every_augmentation_is_differentiable(name):
  grads = jax.grad(lambda x: jnp.sum(augment.AUGMENTATIONS[name](x, jax.random.key(1)) ** 2))(
      jnp.asarray(IMAGES))
  assert np.all(np.isfinite(grads)) and np.any(grads != 0)


def test_policy_parsing():
  assert augment.parse_policy('color, translation,cutout') == ('color', 'translation', 'cutout')
  assert augment.parse_policy('') == ()
  with pytest.raises(ValueError, match='translation'):
    augment.parse_policy('colour')
