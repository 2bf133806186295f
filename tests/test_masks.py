"""Hole masks: seeded per key, the documented shapes and positions, coverage, config errors."""
import ml_collections
import numpy as np
import pytest

from jaxgan.data import masks


def _generate(kind, keys, height, width, **fields):
  config = masks.default_config(kind)
  config.update(fields)
  return masks.make(config)(np.asarray(keys), height, width)


@pytest.mark.parametrize('kind', masks.KINDS)
def test_shape_dtype_and_values(kind):
  out = _generate(kind, np.arange(5), 24, 40)
  assert out.shape == (5, 24, 40, 1) and out.dtype == np.uint8
  assert set(np.unique(out)) == {0, 1}
  assert _generate(kind, np.zeros(0, int), 8, 8).shape == (0, 8, 8, 1)


@pytest.mark.parametrize('kind', ('rectangles', 'strokes'))
def test_a_mask_is_a_function_of_its_key_alone(kind):
  first = _generate(kind, [3, 17, 4], 32, 32)
  again = _generate(kind, [4, 99, 3], 32, 32)
  np.testing.assert_array_equal(first[0], again[2])
  np.testing.assert_array_equal(first[2], again[0])
  rng = np.random.default_rng([masks.MASK_SEED, 17])
  config = masks.default_config(kind)
  if kind == 'rectangles':
    direct = masks.rectangles(rng, 32, 32, (config.min_count, config.max_count),
                              (config.min_fraction, config.max_fraction))
  else:
    direct = masks.strokes(rng, 32, 32)
  np.testing.assert_array_equal(first[1], direct)


@pytest.mark.parametrize('kind', ('rectangles', 'strokes'))
def test_different_keys_differ(kind):
  out = _generate(kind, np.arange(50), 32, 32)
  assert len({m.tobytes() for m in out}) == 50


def test_center_is_the_centred_square():
  np.testing.assert_array_equal(_generate('center', [0, 7], 28, 28, size=14)[:, 7:21, 7:21], 1)
  assert _generate('center', [0], 28, 28, size=14).sum() == 14 * 14
  expected = np.zeros((5, 6, 1), np.uint8)
  expected[1:4, 1:4] = 1  # top (5 - 3) // 2 = 1, left (6 - 3) // 2 = 1
  np.testing.assert_array_equal(masks.center(5, 6, 3), expected)


def test_one_rectangle_fills_its_bounding_box_with_sides_in_range():
  height, width = 40, 30
  out = _generate('rectangles', np.arange(200), height, width, min_count=1, max_count=1,
                  min_fraction=0.2, max_fraction=0.6)[..., 0]
  for mask in out:
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    h, w = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    assert mask.sum() == h * w  # one solid rectangle
    assert int(0.2 * height) <= h <= int(0.6 * height) and int(0.2 * width) <= w <= int(
        0.6 * width)


def test_rectangle_count_is_drawn_from_the_range():
  # Tiny rectangles rarely touch, so the number of 1x1 holes is the count drawn.
  out = _generate('rectangles', np.arange(200), 64, 64, min_count=2, max_count=5,
                  min_fraction=0.01, max_fraction=0.015)
  counts = out.sum(axis=(1, 2, 3))
  assert counts.min() >= 2 and counts.max() <= 5 and set(counts) >= {2, 3, 4, 5}


@pytest.mark.parametrize('size', (32, 64))
def test_stroke_coverage_is_in_the_stated_range(size):
  fraction = masks.hole_fraction(_generate('strokes', np.arange(200), size, size))
  # DeepFill v2's constants as fractions of the image: about 14% missing on average.
  assert 0.10 < fraction.mean() < 0.18
  assert 0.005 < fraction.min() and fraction.max() < 0.45


def test_strokes_scale_with_the_image():
  small = masks.hole_fraction(_generate('strokes', np.arange(200), 32, 32)).mean()
  large = masks.hole_fraction(_generate('strokes', np.arange(200), 128, 128)).mean()
  assert abs(small - large) < 0.03


def _centroids(out):
  m = out[..., 0].astype(float)
  total = m.sum((1, 2))
  return ((m.sum(2) * np.arange(m.shape[1])).sum(1) / total,
          (m.sum(1) * np.arange(m.shape[2])).sum(1) / total)


def test_flip_removes_the_rightward_drift_of_the_strokes():
  # Angles alternate around -72 and +72 degrees: unflipped strokes zig-zag to the right.
  _, cols = _centroids(_generate('strokes', np.arange(200), 64, 64, flip=False))
  assert cols.mean() > 36
  rows, cols = _centroids(_generate('strokes', np.arange(200), 64, 64, flip=True))
  assert abs(cols.mean() - 31.5) < 4 and abs(rows.mean() - 31.5) < 4


@pytest.mark.parametrize('kind, fields', [
    ('rectangles', {}), ('strokes', {}),
    ('rectangles', {'min_count': 30, 'max_count': 30, 'min_fraction': 0.5,
                    'max_fraction': 0.9}),
    ('strokes', {'max_strokes': 6, 'min_width_fraction': 0.4, 'max_width_fraction': 0.5}),
])
def test_never_empty_never_full(kind, fields):
  out = _generate(kind, np.arange(200), 16, 16, **fields)
  covered = out.sum(axis=(1, 2, 3))
  assert covered.min() > 0 and covered.max() < 16 * 16


def test_holes_that_always_cover_everything_are_an_error():
  with pytest.raises(ValueError, match='empty or full holes'):
    _generate('rectangles', [0], 4, 4, min_count=50, max_count=50, min_fraction=0.9,
              max_fraction=0.95)


@pytest.mark.parametrize('kind, fields, field', [
    ('center', {'size': 14.0}, 'size'),
    ('center', {'size': True}, 'size'),
    ('rectangles', {'min_count': 0}, 'min_count'),
    ('rectangles', {'max_count': 0}, 'max_count'),
    ('rectangles', {'min_fraction': 0.0}, 'min_fraction'),
    ('rectangles', {'max_fraction': 1.0}, 'max_fraction'),
    ('rectangles', {'min_fraction': 0.4, 'max_fraction': 0.3}, 'max_fraction'),
    ('strokes', {'max_strokes': 0}, 'max_strokes'),
    ('strokes', {'min_vertices': 5, 'max_vertices': 4}, 'max_vertices'),
    ('strokes', {'max_width_fraction': 0.7}, 'max_width_fraction'),
    ('strokes', {'length_fraction': -0.1}, 'length_fraction'),
    ('strokes', {'flip': 1}, 'flip'),
])
def test_invalid_fields_name_themselves(kind, fields, field):
  config = ml_collections.ConfigDict(dict(masks.default_config(kind)), type_safe=False)
  config.update(fields)
  with pytest.raises(ValueError, match=f'config.data.degradation.mask.{field} ='):
    masks.make(config)


def test_missing_field_and_unknown_kind():
  with pytest.raises(ValueError, match=r'mask\.min_count = None: rectangles masks need an integer'):
    masks.make(ml_collections.ConfigDict({'kind': 'rectangles'}))
  with pytest.raises(ValueError, match=r"mask\.kind = 'square': choose one of"):
    masks.make(ml_collections.ConfigDict({'kind': 'square', 'size': 4}))


def test_center_size_is_checked_against_the_images_and_keys_are_checked():
  generate = masks.make(masks.default_config('center'))  # size 14
  with pytest.raises(ValueError, match=r'mask\.size = 14: .* 0 < size < 12 for 12x20'):
    generate(np.arange(2), 12, 20)
  with pytest.raises(ValueError, match='integers >= 0'):
    generate(np.array([1, -1]), 28, 28)
  with pytest.raises(ValueError, match='integers >= 0'):
    generate(np.array([0.5]), 28, 28)
