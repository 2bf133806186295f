"""A trained run as a Python object: `model = jaxgan.load(workdir)`, then `model.sample(16)`.

  import jaxgan
  model = jaxgan.load('runs/dcgan')              # latest checkpoint, EMA weights
  images = model.sample(16, seed=0)              # uint8 [16, H, W, C]
  strips = model.interpolate(4, frames=8)        # uint8 [4, 8, H, W, C]
  sr = jaxgan.load('runs/esrgan').translate(lr)  # uint8 [h, w, C] -> [4h, 4w, C]
  small = jaxgan.load('runs/dcgan', quantize='int8')  # int8 kernels (compression/quantize.py)

What a model offers follows its family's capabilities (jaxgan/families/base.py): `sample` (GANs,
VAE, PixelCNN), `generate` and `interpolate` (a latent space), `translate` (image-to-image,
fast style, unpaired), `inpaint`. `model.info` says which, with the config, the checkpoint step,
the fingerprint and the run's evaluation results.

Batches of any size are padded to the next power of two (at most `max_batch`; larger requests
run in chunks of `max_batch`), so the jitted networks compile once per bucket and image size,
not once per request size. Padding cannot change an image: every network here computes each
example from that example alone in inference mode (BatchNorm uses its running statistics), and
JAX's random draws of a batch are the prefix of a larger draw (threefry-partitionable), so
`model.sample(num, seed)` equals the trainer's and jaxgan.sample's
`family.sample(state, jax.random.key(seed), num)`, whatever the bucket (tests/test_api.py).
"""
import functools
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgan import config_lib
from jaxgan.compression import quantize as quantize_lib
from jaxgan.data import images as image_lib
from jaxgan.evaluation import results as results_lib
from jaxgan.families import base
from jaxgan.families import gan as gan_family
from jaxgan.inference import cost
from jaxgan.inference import runs
from jaxgan.inference import tiling


def bucket_size(num: int) -> int:
  """The batch a request of `num` examples runs at: the next power of two."""
  return 1 << max(num - 1, 0).bit_length()


def slerp(a: jax.Array, b: jax.Array, t: jax.Array) -> jax.Array:
  """Spherical interpolation between latent batches a, b [N, D] at fractions t [T] -> [N, T, D]
  (White 2016, arXiv:1609.04468: the path stays where a Gaussian's mass is)."""
  a_unit = a / jnp.linalg.norm(a, axis=-1, keepdims=True)
  b_unit = b / jnp.linalg.norm(b, axis=-1, keepdims=True)
  omega = jnp.arccos(jnp.clip(jnp.sum(a_unit * b_unit, -1), -1.0, 1.0))[:, None, None]
  t = t[None, :, None]
  sin_omega = jnp.sin(omega)
  safe = sin_omega > 1e-6
  weight_a = jnp.where(safe, jnp.sin((1 - t) * omega) / jnp.where(safe, sin_omega, 1.0), 1 - t)
  weight_b = jnp.where(safe, jnp.sin(t * omega) / jnp.where(safe, sin_omega, 1.0), t)
  return weight_a * a[:, None] + weight_b * b[:, None]


def _key(seed) -> jax.Array:
  """A PRNG key from an int seed, or the key itself (e.g. the trainer's sample key)."""
  if isinstance(seed, (int, np.integer)):
    return jax.random.key(int(seed))
  if isinstance(seed, jax.Array) and jax.dtypes.issubdtype(seed.dtype, jax.dtypes.prng_key):
    return seed
  raise TypeError(f'seed must be an int or a jax.random.key, not {type(seed).__name__}.')


@functools.partial(jax.jit, static_argnums=1)
def _normal(key: jax.Array, shape: tuple) -> jax.Array:
  return jax.random.normal(key, shape)


class Model:
  """A training directory's checkpoint, ready for inference on one device (see module doc)."""

  def __init__(self, workdir: str, step: int | None = None, max_batch: int = 64,
               interpolate_with: str | None = None, alpha: float | None = None,
               quantize: str | None = None):
    if max_batch < 1:
      raise ValueError(f'max_batch={max_batch}: pass a positive batch size.')
    if (alpha is None) != (interpolate_with is None):
      raise ValueError('alpha and interpolate_with go together: pass both or neither.')
    quantize_lib.check_mode(quantize)
    self.workdir, self.max_batch = workdir, max_batch
    self.config, self.family, state = runs.load_run(workdir, step)
    if interpolate_with is not None:
      state = runs.interpolate_states(runs.load_run(interpolate_with)[2], state, alpha)
    self.quantization = None
    if quantize is not None:
      state, self.quantization = quantize_lib.quantize_state(self.family, state)
      self.config = _marked_quantized(self.config, quantize)
    self.state = jax.device_put(state, jax.devices()[0])  # one device: requests are small
    self.step = int(self.state.step)
    family = self.family
    self.capabilities = frozenset(family.capabilities)
    served = self.served
    self._sample = jax.jit(served(family.sample), static_argnums=2) if self.can('sample') else None
    self._generate = jax.jit(served(family.generate)) if self.can('generate') else None
    self._inpaint = jax.jit(served(family.inpaint)) if self.can('inpaint') else None
    if self.can('bidirectional'):
      self._translate = jax.jit(served(family.translate_direction), static_argnums=2)
    elif self.can('translate'):
      self._translate = jax.jit(served(lambda state, inputs, direction: family.translate(
          state, inputs)), static_argnums=2)

  def served(self, fn):
    """fn(state, *args) of the family as a function of the state this Model holds: an int8
    model's kernels are dequantized first (inside the caller's jit)."""
    if self.quantization is None:
      return fn

    @functools.wraps(fn)  # keeps the signature: jit maps `direction=` to its static position
    def on_stored_state(state, *args, **kwargs):
      return fn(quantize_lib.dequantize_state(state), *args, **kwargs)
    return on_stored_state

  def can(self, capability: str) -> bool:
    """Whether the run's family declares `capability` (families/base.py)."""
    return base.has(self.family, capability)

  def _require(self, capability: str, method: str) -> None:
    if not self.can(capability):
      raise config_lib.ConfigError(
          f'{self.workdir} is a {self.config.family!r} run, which has no {method}(); it offers '
          f'{sorted(self.capabilities)}.')

  # -- What the model is ------------------------------------------------------------------

  @functools.cached_property
  def info(self) -> dict:
    """JSON-ready facts: family, step, capabilities, shapes, inference cost (parameters, MACs
    per image and weight bytes, jaxgan/inference/cost.py), quantization (what is int8,
    jaxgan/compression/quantize.py; None for float32), fingerprint, config, eval results."""
    facts = {'workdir': os.path.abspath(self.workdir), 'family': self.config.family,
             'step': self.step, 'capabilities': sorted(self.capabilities),
             'max_batch': self.max_batch}
    if self.can('sample'):
      facts['image_shape'] = list(self.image_shape)
    if self.can('generate'):
      facts.update(latent_dim=self.family.latent_dim, label_classes=self.label_classes)
    if self.can('translate') or self.can('inpaint'):
      facts['input_channels'] = {d: self.input_channels(d) for d in self.directions} if (
          self.can('bidirectional')) else self.input_channels()
    if self.can('translate'):
      facts['tileable'] = bool(self.family.tileable)
    prepare = quantize_lib.dequantize_state if self.quantization else None
    facts['cost'] = cost.inference_cost(self.family, self.state, prepare)
    facts['quantization'] = self.quantization
    entries = results_lib.read_results(self.workdir)
    facts['eval_results'] = [entries[s] for s in sorted(entries)]
    facts['fingerprint'] = self.family.fingerprint()
    facts['config'] = self.config.to_dict()
    return facts

  @functools.cached_property
  def image_shape(self) -> tuple[int, int, int]:
    """(H, W, C) of a sample."""
    self._require('sample', 'sample')
    shape = jax.eval_shape(self._sample, self.state, jax.random.key(0), 1).shape
    return tuple(shape[1:])

  @property
  def label_classes(self) -> int:
    """Classes a conditional generator takes; 0 for an unconditional one."""
    self._require('generate', 'generate')
    return self.family.label_classes

  @property
  def directions(self) -> tuple[str, ...]:
    """Translation directions: ('a2b', 'b2a') for an unpaired run, else (None,)."""
    return ('a2b', 'b2a') if self.can('bidirectional') else (None,)

  def input_channels(self, direction: str | None = None) -> int:
    """Channels of the images translate (in `direction`) or inpaint takes."""
    return input_channels(self.family, self._direction(direction))

  # -- Generators ---------------------------------------------------------------------------

  def latents(self, num: int, seed=0) -> np.ndarray:
    """float32 [num, latent_dim]: the latents `sample(num, seed)` decodes."""
    self._require('generate', 'latents')
    _check_count(num)
    return np.asarray(_normal(_key(seed), (bucket_size(num), self.family.latent_dim)))[:num]

  def labels(self, num: int, labels=None) -> np.ndarray | None:
    """int32 [num] class labels checked against the run (None for an unconditional run);
    without `labels`, a conditional run's balanced labels (contiguous equal blocks)."""
    classes = self.label_classes
    if classes == 0:
      if labels is not None:
        raise ValueError(f'{self.workdir} is an unconditional run: it takes no labels.')
      return None
    if labels is None:
      return gan_family.balanced_labels(num, classes)
    labels = np.asarray(labels)
    if labels.shape != (num,) or not np.issubdtype(labels.dtype, np.integer):
      raise ValueError(f'labels must be {num} integers (one per image), got shape '
                       f'{labels.shape} of {labels.dtype}.')
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
      raise ValueError(f'labels must lie in [0, {classes}); got {sorted(set(labels.tolist()))}.')
    return labels.astype(np.int32)

  def generate(self, latents, labels=None) -> np.ndarray:
    """uint8 [N, H, W, C] decoded from float latents [N, latent_dim] by the EMA generator;
    `labels` [N] for a conditional run (default: balanced over N)."""
    self._require('generate', 'generate')
    latents = np.asarray(latents, np.float32)
    if latents.ndim != 2 or latents.shape[1] != self.family.latent_dim:
      raise ValueError(f'latents must be [N, {self.family.latent_dim}], got {latents.shape}.')
    labels = self.labels(len(latents), labels)
    if labels is None:
      return self._batched(self._generate, latents)
    return self._batched(self._generate, latents, labels)

  def sample(self, num: int, seed=0, labels=None) -> np.ndarray:
    """uint8 [num, H, W, C]: the family's samples for PRNG key `seed` (an int or a key), i.e.
    family.sample(state, jax.random.key(seed), num); `labels` [num] for a conditional run."""
    self._require('sample', 'sample')
    _check_count(num)
    if self.can('generate'):
      return self.generate(self.latents(num, seed), labels)
    if labels is not None:
      raise ValueError(f'A {self.config.family!r} run is unconditional: it takes no labels.')
    # No latents to pad (e.g. PixelCNN draws pixel by pixel): one call at the bucket size.
    return image_lib.to_uint8(self._sample(self.state, _key(seed), bucket_size(num))[:num])

  def interpolate(self, rows: int, frames: int = 10, seed=0, labels=None) -> np.ndarray:
    """uint8 [rows, frames, H, W, C]: each row a spherical interpolation between two random
    latents (for a conditional run, `labels` [rows], default balanced, held along a row)."""
    self._require('generate', 'interpolate')
    _check_count(rows)
    _check_count(frames)
    start_key, end_key = jax.random.split(_key(seed))
    shape = (rows, self.family.latent_dim)
    latents = slerp(jax.random.normal(start_key, shape), jax.random.normal(end_key, shape),
                    jnp.linspace(0.0, 1.0, frames)).reshape(rows * frames, -1)
    row_labels = self.labels(rows, labels)
    images = self.generate(latents, None if row_labels is None else np.repeat(row_labels, frames))
    return images.reshape(rows, frames, *images.shape[1:])

  # -- Image to image -----------------------------------------------------------------------

  def translate(self, images, direction: str | None = None, tile: int = 512,
                overlap: int = 32) -> np.ndarray:
    """uint8 images of `input_channels(direction)` channels, one [h, w, C] or a batch
    [N, h, w, C], -> the run's uint8 outputs of the same layout (EMA weights). Images larger
    than `tile` in a side go in overlapping tiles (jaxgan/inference/tiling.py) when the network
    allows (`tileable`); `direction` 'a2b' (default) or 'b2a' for an unpaired run."""
    self._require('translate', 'translate')
    direction = self._direction(direction)
    batch = self._images(images, self.input_channels(direction))
    height, width = batch.shape[1:3]
    if not self.family.tileable:
      tile = 0
    translate = functools.partial(self._translate, direction=direction)
    if tile and max(height, width) > tile:
      outputs = np.stack([image_lib.to_uint8(tiling.apply_tiled(
          functools.partial(translate, self.state), image, tile, overlap)) for image in batch])
    else:
      outputs = self._batched(translate, batch)
    return outputs if np.ndim(images) == 4 else outputs[0]

  def inpaint(self, images, masks) -> np.ndarray:
    """uint8 images [h, w, C] or [N, h, w, C] with masks of the same layout and one channel
    (1 = missing) -> the filled uint8 images; known pixels are kept exactly."""
    self._require('inpaint', 'inpaint')
    batch = self._images(images, self.input_channels())
    mask_batch = self._images(masks, 1)
    if mask_batch.shape[:3] != batch.shape[:3]:
      raise ValueError(f'masks {mask_batch.shape[:3]} and images {batch.shape[:3]} must match.')
    if mask_batch.max(initial=0) > 1:
      raise ValueError('masks must hold 0 (known) and 1 (missing) only.')
    self.family.check_image_size(*batch.shape[1:3])
    outputs = self._batched(self._inpaint, batch, mask_batch)
    return outputs if np.ndim(images) == 4 else outputs[0]

  def _direction(self, direction: str | None) -> str | None:
    if not self.can('bidirectional'):
      if direction is not None:
        raise ValueError(f'direction is for unpaired runs that translate both ways; '
                         f'{self.workdir} is a {self.config.family!r} run, which translates '
                         'one way only: leave the direction out.')
      return None
    if direction not in (None, 'a2b', 'b2a'):
      raise ValueError(f"Unknown direction {direction!r}: 'a2b' or 'b2a'.")
    return direction or 'a2b'

  @staticmethod
  def _images(images, channels: int) -> np.ndarray:
    """uint8 [N, h, w, channels] of one image or a batch, or a ValueError saying what is off."""
    array = np.asarray(images)
    if array.dtype != np.uint8 or array.ndim not in (3, 4):
      raise ValueError(f'Pass uint8 images [h, w, C] or [N, h, w, C], not {array.dtype} '
                       f'{array.shape} (images.read_image reads a file).')
    batch = array if array.ndim == 4 else array[None]
    if batch.shape[-1] != channels or 0 in batch.shape:
      raise ValueError(f'The images are {batch.shape}; this takes {channels}-channel images '
                       '(image_sets.to_channels converts grey and RGB).')
    return batch

  def _batched(self, fn, *arrays: np.ndarray) -> np.ndarray:
    """uint8 to_uint8(fn(state, *chunk)) over chunks of at most max_batch examples, each padded
    with zeros to its bucket size (one compilation per bucket and shape)."""
    outputs = []
    for start in range(0, len(arrays[0]), self.max_batch):
      chunk = [a[start:start + self.max_batch] for a in arrays]
      num = len(chunk[0])
      padding = bucket_size(num) - num
      padded = [np.concatenate([c, np.zeros((padding, *c.shape[1:]), c.dtype)]) for c in chunk]
      outputs.append(image_lib.to_uint8(fn(self.state, *padded)[:num]))
    return np.concatenate(outputs)


def input_channels(family, direction: str | None = None) -> int:
  """Channels of an image-to-image family's inputs: the source domain's of an unpaired run
  (`direction` 'a2b', the default, reads A), a paired run's inputs, or the images of a run
  trained on single images (fast style)."""
  return base.translation_inputs(family, direction).shape[-1]


def _check_count(num) -> None:
  if not isinstance(num, (int, np.integer)) or num < 1:
    raise ValueError(f'Pass a positive number of images, not {num!r}.')


def _marked_quantized(config, quantize: str):
  """A copy of `config` with `quantize` set: the trainer refuses it (config_lib.validate)."""
  config = ml_collections.ConfigDict(config.to_dict())
  config.quantize = quantize
  config.lock()
  return config


def load(workdir: str, step: int | None = None, **options) -> Model:
  """The run in `workdir` at checkpoint `step` (default: the latest) as a Model; `options`:
  max_batch, interpolate_with + alpha (network interpolation, runs.interpolate_states), and
  quantize='int8' (int8 kernels, jaxgan/compression/quantize.py)."""
  return Model(workdir, step, **options)
