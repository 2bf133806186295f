"""Composable sources: paired degradations, aligned pairs, unpaired streams with their own order."""
import ml_collections
import numpy as np
from PIL import Image
import pytest

from conftest import tiny_dcgan_config
from jaxgan import config_lib
from jaxgan.data import degradations
from jaxgan.data import sources as data


def _data_config(**fields):
  config = tiny_dcgan_config().data
  with config.unlocked():
    for name, value in fields.items():
      config[name] = value
  return config


def test_downscale_is_pil_bicubic_of_the_uint8_image():
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (3, 12, 8, 3), dtype=np.uint8)
  degrade = degradations.make(ml_collections.ConfigDict({'name': 'downscale', 'factor': 4}))
  low = degrade(images, np.arange(3))['input']
  assert low.shape == (3, 3, 2, 3) and low.dtype == np.uint8
  for image, small in zip(images, low):
    np.testing.assert_array_equal(small, np.asarray(Image.fromarray(image).resize(
        (2, 3), Image.BICUBIC)))
  with pytest.raises(ValueError, match='divisible'):
    degradations.downscale(images, 5)


def test_mask_degradation_zeroes_exactly_the_hole_of_each_key():
  images = np.full((2, 6, 6, 1), 200, np.uint8)
  degrade = degradations.make(ml_collections.ConfigDict(
      {'name': 'mask', 'mask': {'kind': 'center', 'size': 2}}))
  out = degrade(images, np.array([0, 1]))
  expected_mask = np.zeros((6, 6), np.uint8)
  expected_mask[2:4, 2:4] = 1
  np.testing.assert_array_equal(out['mask'][0, ..., 0], expected_mask)
  for image in out['input']:
    np.testing.assert_array_equal(image[..., 0], 200 * (1 - expected_mask))


def test_unknown_degradation_or_pairing_is_a_config_error():
  with pytest.raises(config_lib.ConfigError, match='downscale'):
    degradations.make(ml_collections.ConfigDict({'name': 'blur'}))
  with pytest.raises(config_lib.ConfigError, match='pairing'):
    data.open_source(_data_config(pairing='triplet'), 'test')


def test_paired_source_keeps_labels_and_targets_of_the_same_examples():
  config = _data_config(pairing='degradation', degradation=ml_collections.ConfigDict(
      {'name': 'downscale', 'factor': 2}))
  source = data.open_source(config, 'test')
  plain = data.load_mnist_5k('test')
  batch = data.host_batch(source, 8, 8, seed=1)
  indices = data.batch_indices(8, 8, len(plain), 1)
  np.testing.assert_array_equal(batch['target'], plain.images[indices])
  np.testing.assert_array_equal(batch['label'], plain.labels[indices])
  np.testing.assert_array_equal(batch['input'], degradations.downscale(plain.images[indices],
                                                                       2)['input'])


def test_aligned_and_unpaired_sources():
  other = _data_config()
  aligned = data.open_source(_data_config(pairing='aligned', other=other), 'test')
  batch = data.host_batch(aligned, 0, 4, seed=0)
  np.testing.assert_array_equal(batch['input'], batch['target'])  # the same dataset twice

  unpaired = data.open_source(_data_config(pairing='unpaired', other=other), 'test')
  num = len(unpaired)
  first_epoch = data.host_batch(unpaired, 0, num, seed=3)
  a_order = data.batch_indices(0, num, num, 3)
  b_order = data.batch_indices(0, num, num, 3, stream=data.UNPAIRED_STREAM)
  assert sorted(b_order) == list(range(num)) and not np.array_equal(a_order, b_order)
  plain = data.load_mnist_5k('test')
  np.testing.assert_array_equal(first_epoch['a']['image'], plain.images[a_order])
  np.testing.assert_array_equal(first_epoch['b']['image'], plain.images[b_order])
