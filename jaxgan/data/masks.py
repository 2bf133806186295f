"""Seeded hole masks for inpainting, made on the host in numpy.

A mask is uint8 [H, W, 1] with 1 = a MISSING pixel (inside the hole) and 0 = a known pixel.
Masks are part of the task's definition, not of the run: mask k is a pure function of
(MASK_SEED, k), drawn from np.random.default_rng([MASK_SEED, k]), so a held-out example always
gets the same hole and a resumed run sees the holes an uninterrupted one sees. A hole is never
empty and never covers the whole image (rectangles and strokes are redrawn until it is neither).

`make(config.data.degradation.mask)` returns generate(keys, height, width) -> uint8 [N, H, W, 1].
The config names a `kind` and reads only that kind's fields, so one ConfigDict may hold the
fields of every kind (`default_config`) and `kind` alone switches between them:

  center      Pathak et al. 2016's context encoder (arXiv:1604.07379): a centred square.
                size            side in pixels, 0 < size < min(H, W); top-left corner at
                                ((H - size) // 2, (W - size) // 2), as degradations.center_mask
  rectangles  random axis-aligned rectangles, each fully inside the image.
                min_count, max_count        the count is uniform on [min_count, max_count]
                min_fraction, max_fraction  each side is a fraction uniform on [min, max] of
                                            the image's side (height and width drawn apart),
                                            floored to whole pixels and at least 1;
                                            0 < min_fraction <= max_fraction < 1
  strokes     free-form brush strokes, Yu et al. 2019's DeepFill v2 (arXiv:1806.03589,
              Algorithm 1, and their code's brush_stroke_mask, whose constants at 256x256 px
              are the defaults here as fractions of the image): each stroke is a polyline from
              a uniform start through `vertices` segments whose angles alternate around
              +-2pi/5 (spread 2pi/15), whose lengths are normal with mean and std
              length_fraction * diagonal and half that (clipped to [0, 2 mean]), ends clipped to
              the image; drawn with one brush width by PIL ImageDraw lines and discs at the
              joints.
                max_strokes                 the count of strokes is uniform on [1, max_strokes]
                min_vertices, max_vertices  segments per stroke, uniform on [min, max]
                min_width_fraction, max_width_fraction
                                            brush width, uniform on [min, max] times
                                            min(H, W), rounded and at least 1 px
                length_fraction             mean segment length / the image's diagonal
                flip                        flip each mask left-right and up-down, each with
                                            probability 1/2 (DeepFill's code meant to; its
                                            transposes are discarded)
"""
import math

import ml_collections
import numpy as np
from PIL import Image, ImageDraw

MASK_SEED = 0x4d41534b  # 'MASK': holes are part of the dataset's definition, not the run's
KINDS = ('center', 'rectangles', 'strokes')
_MEAN_ANGLE, _ANGLE_RANGE = 2 * math.pi / 5, 2 * math.pi / 15  # DeepFill v2's code
_TYPE_NAMES = {int: 'an integer', float: 'a number', bool: 'True or False'}
_MAX_TRIES = 100  # redraws of a hole that came out empty or full before giving up

# field: (type, DeepFill-style default) of each kind; `flip` is the one bool.
FIELDS = {
    'center': {'size': (int, 14)},
    'rectangles': {'min_count': (int, 1), 'max_count': (int, 4),
                   'min_fraction': (float, 0.1), 'max_fraction': (float, 0.5)},
    'strokes': {'max_strokes': (int, 3), 'min_vertices': (int, 4), 'max_vertices': (int, 11),
                'min_width_fraction': (float, 12 / 256), 'max_width_fraction': (float, 40 / 256),
                'length_fraction': (float, 1 / 8), 'flip': (bool, True)},
}


def _check(ok: bool, field: str, value, requirement: str) -> None:
  if not ok:
    raise ValueError(f'config.data.degradation.mask.{field} = {value!r}: {requirement}.')


def center(height: int, width: int, size: int) -> np.ndarray:
  """A centred size x size hole (Pathak et al. 2016), uint8 [H, W, 1]."""
  _check(isinstance(size, int) and 0 < size < min(height, width), 'size', size,
         f'the centre square needs 0 < size < {min(height, width)} for {height}x{width} images')
  top, left = (height - size) // 2, (width - size) // 2
  mask = np.zeros((height, width, 1), np.uint8)
  mask[top:top + size, left:left + size] = 1
  return mask


def _redrawn(draw, *args) -> np.ndarray:
  """draw(*args) again (the rng moves on) until the hole is neither empty nor the whole image."""
  for _ in range(_MAX_TRIES):
    mask = draw(*args)
    if 0 < mask.sum() < mask.size:
      return mask
  raise ValueError(f'config.data.degradation.mask made {_MAX_TRIES} empty or full holes in a '
                   f'row: make the holes smaller.')


def _rectangles(rng, height, width, count, size) -> np.ndarray:
  mask = np.zeros((height, width, 1), np.uint8)
  for _ in range(rng.integers(count[0], count[1], endpoint=True)):
    h = max(1, int(rng.uniform(*size) * height))
    w = max(1, int(rng.uniform(*size) * width))
    top, left = rng.integers(0, height - h, endpoint=True), rng.integers(0, width - w,
                                                                         endpoint=True)
    mask[top:top + h, left:left + w] = 1
  return mask


def rectangles(rng: np.random.Generator, height: int, width: int, count=(1, 4),
               size=(0.1, 0.5)) -> np.ndarray:
  """1 to 4 (`count`, inclusive) random rectangles inside the image, each side a fraction
  uniform on `size` of the image's side; uint8 [H, W, 1], redrawn if empty or full."""
  return _redrawn(_rectangles, rng, height, width, count, size)


def _strokes(rng, height, width, max_strokes, vertices, width_fraction, length_fraction,
             flip) -> np.ndarray:
  """DeepFill v2's brush_stroke_mask at any size (module docstring)."""
  canvas = Image.new('L', (width, height), 0)
  draw = ImageDraw.Draw(canvas)
  mean_length = length_fraction * math.hypot(height, width)
  for _ in range(rng.integers(1, max_strokes, endpoint=True)):
    num_vertices = rng.integers(vertices[0], vertices[1], endpoint=True)
    angle_min = _MEAN_ANGLE - rng.uniform(0, _ANGLE_RANGE)
    angle_max = _MEAN_ANGLE + rng.uniform(0, _ANGLE_RANGE)
    angles = rng.uniform(angle_min, angle_max, num_vertices)
    angles[::2] = 2 * math.pi - angles[::2]
    points = [(int(rng.integers(0, width)), int(rng.integers(0, height)))]
    for angle in angles:
      length = np.clip(rng.normal(mean_length, mean_length / 2), 0, 2 * mean_length)
      x = np.clip(points[-1][0] + length * math.cos(angle), 0, width)
      y = np.clip(points[-1][1] + length * math.sin(angle), 0, height)
      points.append((int(x), int(y)))
    brush = max(1, round(rng.uniform(*width_fraction) * min(height, width)))
    draw.line(points, fill=1, width=brush)
    radius = brush // 2
    for x, y in points:
      draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=1)
  mask = np.asarray(canvas, np.uint8)[..., None]
  if flip and rng.random() < 0.5:
    mask = mask[:, ::-1]
  if flip and rng.random() < 0.5:
    mask = mask[::-1]
  return np.ascontiguousarray(mask)


def strokes(rng: np.random.Generator, height: int, width: int, max_strokes: int = 3,
            vertices=(4, 11), width_fraction=(12 / 256, 40 / 256), length_fraction: float = 1 / 8,
            flip: bool = True) -> np.ndarray:
  """Free-form brush strokes (DeepFill v2; module docstring), uint8 [H, W, 1], redrawn if empty
  or full. The defaults are DeepFill's constants at 256x256 px as fractions of the image."""
  return _redrawn(_strokes, rng, height, width, max_strokes, vertices, width_fraction,
                  length_fraction, flip)


def default_config(kind: str = 'center') -> ml_collections.ConfigDict:
  """A mask config with `kind` and the default fields of every kind (FIELDS)."""
  config = ml_collections.ConfigDict({'kind': kind})
  for fields in FIELDS.values():
    for field, (_, default) in fields.items():
      config[field] = default
  return config


def _fields(mask_config: ml_collections.ConfigDict) -> dict:
  """The kind's fields, type- and range-checked."""
  kind = mask_config.get('kind')
  if kind not in KINDS:
    raise ValueError(f'config.data.degradation.mask.kind = {kind!r}: choose one of {KINDS}.')
  values = {}
  for field, (kind_type, _) in FIELDS[kind].items():
    value = mask_config.get(field)
    ok = (isinstance(value, bool) if kind_type is bool else
          isinstance(value, int) and not isinstance(value, bool) if kind_type is int else
          isinstance(value, (int, float)) and not isinstance(value, bool))
    _check(ok, field, value, f'{kind} masks need {_TYPE_NAMES[kind_type]}')
    values[field] = value
  if kind == 'rectangles':
    _check(values['min_count'] >= 1, 'min_count', values['min_count'], 'must be >= 1')
    _check(values['max_count'] >= values['min_count'], 'max_count', values['max_count'],
           'must be >= min_count')
    _check(0 < values['min_fraction'], 'min_fraction', values['min_fraction'], 'must be > 0')
    _check(values['min_fraction'] <= values['max_fraction'] < 1, 'max_fraction',
           values['max_fraction'], 'must be in [min_fraction, 1)')
  elif kind == 'strokes':
    _check(values['max_strokes'] >= 1, 'max_strokes', values['max_strokes'], 'must be >= 1')
    _check(values['min_vertices'] >= 1, 'min_vertices', values['min_vertices'], 'must be >= 1')
    _check(values['max_vertices'] >= values['min_vertices'], 'max_vertices',
           values['max_vertices'], 'must be >= min_vertices')
    _check(0 < values['min_width_fraction'], 'min_width_fraction',
           values['min_width_fraction'], 'must be > 0')
    _check(values['min_width_fraction'] <= values['max_width_fraction'] <= 0.5,
           'max_width_fraction', values['max_width_fraction'], 'must be in [min, 0.5]')
    _check(values['length_fraction'] > 0, 'length_fraction', values['length_fraction'],
           'must be > 0')
  return values


def make(mask_config: ml_collections.ConfigDict):
  """generate(keys: ints >= 0 [N], height, width) -> uint8 [N, H, W, 1], mask i a pure function
  of (MASK_SEED, keys[i]); the config is checked here, the center size against the images when
  generating."""
  kind, f = mask_config.get('kind'), _fields(mask_config)
  if kind == 'center':
    one = lambda rng, height, width: center(height, width, f['size'])
  elif kind == 'rectangles':
    one = lambda rng, height, width: rectangles(
        rng, height, width, (f['min_count'], f['max_count']),
        (f['min_fraction'], f['max_fraction']))
  else:
    one = lambda rng, height, width: strokes(
        rng, height, width, f['max_strokes'], (f['min_vertices'], f['max_vertices']),
        (f['min_width_fraction'], f['max_width_fraction']), f['length_fraction'], f['flip'])

  def generate(keys: np.ndarray, height: int, width: int) -> np.ndarray:
    keys = np.asarray(keys)
    if keys.ndim != 1 or not np.issubdtype(keys.dtype, np.integer) or (keys < 0).any():
      raise ValueError(f'Mask keys must be a 1-D array of integers >= 0, got {keys!r}.')
    masks = [one(np.random.default_rng([MASK_SEED, int(key)]), height, width) for key in keys]
    return np.stack(masks) if masks else np.zeros((0, height, width, 1), np.uint8)

  return generate


def hole_fraction(masks: np.ndarray) -> np.ndarray:
  """The fraction of missing pixels of each mask [N] of masks [N, H, W, 1]."""
  return np.asarray(masks, np.float64).mean(axis=(1, 2, 3))
