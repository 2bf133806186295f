"""Bundled photographs and MRI slices as crops: splits, crop windows, tiles, degradation."""
import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from conftest import REPO
from jaxgan import config_lib
from jaxgan.data import image_sets
from jaxgan.data import sources as data


def _unique_image(height, width):
  """An image whose every pixel (as a 3-byte value) is distinct: a crop locates itself."""
  values = np.arange(height * width, dtype=np.uint32).reshape(height, width)
  return np.stack([values % 256, (values // 256) % 256, values // 65536], -1).astype(np.uint8)


def _decode(pixel):
  return int(pixel[0]) + 256 * int(pixel[1]) + 65536 * int(pixel[2])


def test_photo_splits_are_disjoint_and_load_as_rgb():
  names = [set(image_sets.PHOTOS_TRAIN), set(image_sets.PHOTOS_VALIDATION),
           set(image_sets.PHOTOS_TEST)]
  assert all(names) and sum(map(len, names)) == len(set.union(*names))
  test = image_sets.photos('test', 3)
  assert [im.shape for im in test] == [(512, 512, 3), (300, 451, 3), (400, 600, 3)]
  train = image_sets.photos('train', 3)
  assert len(train) == len(image_sets.PHOTOS_TRAIN)
  camera = train[list(image_sets.PHOTOS_TRAIN).index('camera')]  # greyscale: repeated
  np.testing.assert_array_equal(camera[..., 0], camera[..., 2])
  grey = image_sets.photos('test', 1)[0]
  astronaut = Image.fromarray(test[0]).convert('L')
  np.testing.assert_array_equal(grey[..., 0], np.asarray(astronaut))
  with pytest.raises(image_sets.CollectionError, match='train, validation and test'):
    image_sets.photos('valid', 3)


def test_random_crops_are_windows_of_their_image_in_one_of_eight_orientations():
  images = [_unique_image(40, 50), _unique_image(33, 70)]
  source = image_sets.CropSource(images, 16, 'random', crops_per_image=40)
  assert len(source) == 80
  codes = set()
  for index in range(80):
    crop = source.crop(index)
    image = images[index % 2]
    matches = []
    for code in range(8):
      # Undo `orient`: rotate back, then flip back.
      candidate = np.rot90(crop, -(code >> 1))
      candidate = candidate[:, ::-1] if code & 1 else candidate
      top, left = divmod(_decode(candidate[0, 0]), image.shape[1])
      if (top + 16 <= image.shape[0] and left + 16 <= image.shape[1] and np.array_equal(
          candidate, image[top:top + 16, left:left + 16])):
        matches.append(code)
    assert len(matches) == 1, index
    codes.add(matches[0])
  assert codes == set(range(8))
  again = image_sets.CropSource(images, 16, 'random', crops_per_image=40)
  np.testing.assert_array_equal(source.get(np.arange(10))['image'],
                                again.get(np.arange(10))['image'])
  assert not np.array_equal(source.crop(0), source.crop(2))  # same image, another window


def test_tiles_are_a_centred_grid_of_disjoint_windows():
  assert image_sets.tile_windows(40, 50, 16) == [(4, 1), (4, 17), (4, 33), (20, 1), (20, 17),
                                                 (20, 33)]
  images = [_unique_image(40, 50), _unique_image(16, 16), np.full((16, 40, 3), 9, np.uint8)]
  source = image_sets.CropSource(images, 16, 'tiles')
  assert len(source) == 7  # the single-valued tiles of image 2 are left out
  np.testing.assert_array_equal(source.crop(4), images[0][20:36, 17:33])
  np.testing.assert_array_equal(source.crop(6), images[1])
  with pytest.raises(image_sets.CollectionError, match='smaller than the 32x32'):
    image_sets.CropSource(images, 32, 'tiles')


def test_mri_splits_are_disjoint_slabs_with_gaps():
  train, test = set(image_sets.MRI_TRAIN_SLICES), set(image_sets.MRI_TEST_SLICES)
  assert min(abs(a - b) for a in train for b in test) >= 5
  slices = image_sets.mni152_slices('test', 1)
  assert len(slices) == len(test) and slices[0].shape == (233, 197, 1)
  import nibabel  # pylint: disable=g-import-not-at-top
  volume = np.asarray(nibabel.load(image_sets._package_file(
      'nilearn', image_sets.MNI152_FILE.format('t1'), 'nilearn')).dataobj)
  z = image_sets.MRI_TEST_SLICES[0]
  # Row r, column c of the image is voxel (x=c, y=232-r, z): anterior (high y) at the top.
  assert slices[0][10, 100, 0] == volume[100, 222, z]
  assert slices[0][200, 50, 0] == volume[50, 32, z]


def test_degraded_photo_pairs_are_pil_bicubic_downscales_of_the_crops():
  config = config_lib.load_config(f'{REPO}/configs/srresnet.py')
  source = data.open_source(config.data, 'train')
  batch = data.host_batch(source, 0, 4, seed=0)
  assert batch['target'].shape == (4, 64, 64, 3) and batch['input'].shape == (4, 16, 16, 3)
  for target, low in zip(batch['target'], batch['input']):
    expected = np.asarray(Image.fromarray(target).resize((16, 16), Image.BICUBIC))
    np.testing.assert_array_equal(low, expected)
  test = data.open_source(config.data, 'test')
  assert len(test) == 64 + 4 * 7 + 6 * 9  # 64x64 tiles of astronaut, chelsea, coffee


def test_a_tfds_image_set_is_cropped_from_its_hr_feature():
  config = config_lib.load_config(f'{REPO}/configs/srresnet.py:div2k')
  rng = np.random.default_rng(0)
  images = [rng.integers(0, 256, (130 + 7 * i, 140 + 5 * i, 3), dtype=np.uint8)
            for i in range(3)]

  def data_source(builder, split, *args, **kwargs):
    del builder, split, args, kwargs
    return [{'hr': image, 'lr': image[::4, ::4]} for image in images]

  with tfds.testing.mock_data(as_data_source_fn=data_source):
    train = data.open_source(config.data, 'train')
    batch = train.get(np.arange(3))
    assert batch['target'].shape == (3, 128, 128, 3) and batch['input'].shape == (3, 32, 32, 3)
    assert len(data.open_source(config.data, 'validation')) == 3  # one 128x128 tile each
    config.data.image_feature = 'image'
    with pytest.raises(data.DatasetError, match="no feature 'image'.*'hr'"):
      data.open_source(config.data, 'train')
