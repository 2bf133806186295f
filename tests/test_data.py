"""Data shapes, ranges, split, determinism and sharding; the tfds path through mock data."""
import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

from conftest import tiny_dcgan_config
from jaxgan.data import images as image_lib
from jaxgan.data import sources as data


def test_mnist_5k_split_is_fixed_disjoint_and_stratified():
  train, test = data.load_mnist_5k('train'), data.load_mnist_5k('test')
  assert (len(train), len(test)) == (4500, 500)
  assert train.images.shape[1:] == (28, 28, 1) and train.images.dtype == np.uint8
  np.testing.assert_array_equal(np.bincount(test.labels), [50] * 10)
  train_rows = {row.tobytes() for row in train.images}
  assert not any(row.tobytes() in train_rows for row in test.images[:100])
  np.testing.assert_array_equal(data.load_mnist_5k('test').images, test.images)


def test_normalized_images_span_minus_one_to_one():
  images = data.load_mnist_5k('test').images
  normalized = np.asarray(image_lib.normalize_images(images))
  assert normalized.dtype == np.float32
  assert normalized.min() == -1.0 and normalized.max() == 1.0


def test_batch_indices_are_seeded_epoch_permutations():
  num, batch = 50, 8
  stream = np.concatenate([data.batch_indices(s * batch, batch, num, seed=3) for s in range(25)])
  for epoch in range(4):  # every epoch visits every example exactly once
    np.testing.assert_array_equal(np.sort(stream[epoch * num:(epoch + 1) * num]), np.arange(num))
  assert not np.array_equal(stream[:num], stream[num:2 * num])
  np.testing.assert_array_equal(data.batch_indices(56, batch, num, 3), stream[56:64])
  assert not np.array_equal(data.batch_indices(56, batch, num, 4), stream[56:64])


def test_each_process_reads_its_own_rows(monkeypatch):
  source = data.load_mnist_5k('test')
  full = data.host_batch(source, 3, 8, seed=0)
  monkeypatch.setattr(jax, 'process_count', lambda: 2)
  halves = []
  for index in range(2):
    monkeypatch.setattr(jax, 'process_index', lambda index=index: index)
    halves.append(data.host_batch(source, 3, 8, seed=0)['image'])
  np.testing.assert_array_equal(np.concatenate(halves), full['image'])


def test_device_batches_are_sharded_and_start_at_the_given_position():
  mesh = jax.sharding.Mesh(np.asarray(jax.devices()), ('data',))
  sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec('data'))
  source = data.load_mnist_5k('test')
  batches = data.device_batches(source, 8, seed=1, start_position=40, sharding=sharding)
  first = next(batches)
  batches.close()
  assert first['image'].shape == (8, 28, 28, 1) and first['image'].sharding == sharding
  assert len(first['image'].addressable_shards) == len(jax.devices())
  np.testing.assert_array_equal(np.asarray(first['image']),
                                data.host_batch(source, 40, 8, 1)['image'])


def test_wrong_image_shape_says_which_fields_to_set():
  config = tiny_dcgan_config(data__image_size=32)
  with pytest.raises(data.DatasetError, match='config.data.image_size'):
    data.open_source(config.data, 'train')


def test_tfds_dataset_through_mock_data():
  config = tiny_dcgan_config('cifar10')
  with tfds.testing.mock_data(num_examples=24):
    source = data.open_source(config.data, 'train')
    batch = data.host_batch(source, 0, 8, seed=0)
  assert len(source) == 24
  assert batch['image'].shape == (8, 32, 32, 3) and batch['image'].dtype == np.uint8
  assert batch['label'].shape == (8,)


def test_tfds_resize_center_crops_to_the_configured_size():
  config = tiny_dcgan_config('cifar10', data__image_size=16, data__resize=True)
  with tfds.testing.mock_data(num_examples=4):
    batch = data.host_batch(data.open_source(config.data, 'train'), 0, 4, seed=0)
  assert batch['image'].shape == (4, 16, 16, 3)


def test_unprepared_tfds_dataset_explains_how_to_prepare(tmp_path):
  config = tiny_dcgan_config('cifar10', data__data_dir=str(tmp_path))
  with pytest.raises(data.DatasetError, match='tfds build cifar10'):
    data.open_source(config.data, 'train')
