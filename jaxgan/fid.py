"""FID (and KID) between two image sets, like pytorch-fid's command line.

  python -m jaxgan.fid PATH_A PATH_B [--resizer=clean|legacy_tf] [--batch_size=64]

Each PATH is a folder of PNG/JPEG images (all of one size) or a .npz file holding one uint8
array [N, H, W, C] (C = 1 or 3). Prints `FID: <value>` and `KID: <mean> +- <std>`; the
Inception passes log their progress (images done, images/s, ETA) to stderr.
"""
import os
import sys

from absl import app
from absl import flags
import numpy as np
from PIL import Image

from jaxgan import console
from jaxgan.evaluation import metrics
from jaxgan.evaluation import sample_quality
from jaxgan.pretrained import inception
from jaxgan.training import mesh as mesh_lib

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg')


class ImageSetError(ValueError):
  """A path is not a readable image folder or uint8 .npz array."""


def _read_folder(path: str) -> np.ndarray:
  names = sorted(n for n in os.listdir(path) if n.lower().endswith(IMAGE_EXTENSIONS))
  if not names:
    raise ImageSetError(f'{path} holds no {"/".join(IMAGE_EXTENSIONS)} files.')
  images = []
  for name in names:
    try:
      with Image.open(os.path.join(path, name)) as image:
        array = np.asarray(image.convert('L' if image.mode in ('L', 'I;16', 'I') else 'RGB'))
    except OSError as e:
      raise ImageSetError(f'Cannot read image {os.path.join(path, name)}: {e}') from e
    array = array[..., None] if array.ndim == 2 else array
    if images and array.shape != images[0].shape:
      raise ImageSetError(f'{os.path.join(path, name)} is {array.shape} (H, W, C) but '
                          f'{names[0]} is {images[0].shape}; all images of a set must match.')
    images.append(array)
  return np.stack(images)


def _read_npz(path: str) -> np.ndarray:
  try:
    with np.load(path) as archive:
      if len(archive.files) != 1:
        raise ImageSetError(f'{path} holds arrays {archive.files}; expected exactly one.')
      images = archive[archive.files[0]]
  except (OSError, ValueError) as e:
    raise ImageSetError(f'Cannot read {path} as .npz: {e}') from e
  if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
    raise ImageSetError(f'{path} holds a {images.dtype} array of shape {images.shape}; expected '
                        'uint8 [N, H, W, C] with C = 1 or 3.')
  return images


def read_images(path: str) -> np.ndarray:
  """uint8 [N, H, W, C] images of a folder or a .npz file."""
  if os.path.isdir(path):
    images = _read_folder(path)
  elif os.path.isfile(path) and path.endswith('.npz'):
    images = _read_npz(path)
  else:
    raise ImageSetError(f'{path} is neither a folder of images nor a .npz file.')
  if len(images) < 2:
    raise ImageSetError(f'{path} holds {len(images)} image(s); FID needs at least 2.')
  return images


def fid_between(images_a: np.ndarray, images_b: np.ndarray, extractor,
                kid_subsets: int = 100, kid_subset_size: int = 1000,
                names: tuple[str, str] = ('A', 'B')) -> dict[str, float]:
  """FID and KID between two image sets; `names` (e.g. their paths) label the progress lines."""
  features_a = extractor(images_a, f'Inception features of {names[0]}')
  features_b = extractor(images_b, f'Inception features of {names[1]}')
  fid = metrics.frechet_distance(metrics.feature_statistics(features_a),
                                 metrics.feature_statistics(features_b))
  kid_mean, kid_std = metrics.kernel_inception_distance(features_a, features_b, kid_subsets,
                                                        kid_subset_size)
  return {'fid': fid, 'kid_mean': kid_mean, 'kid_std': kid_std}


FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command line's flags, defined when it runs (not on import: tools import together)."""
  flags.DEFINE_enum('resizer', 'clean', ['clean', 'legacy_tf'], 'Resize protocol.')
  flags.DEFINE_integer('batch_size', 64, 'Images per Inception batch (global).')
  flags.DEFINE_integer('kid_subsets', 100, 'KID subsets.')
  flags.DEFINE_integer('kid_subset_size', 1000, 'KID subset size.')


def main(argv):
  console.start_command(None)  # its positional arguments are checked below
  if len(argv) != 3:
    raise app.UsageError('Usage: python -m jaxgan.fid PATH_A PATH_B')
  try:
    image_sets = [read_images(path) for path in argv[1:]]
    extractor = sample_quality.InceptionFeatures(mesh_lib.make_mesh(), FLAGS.batch_size,
                                                 FLAGS.resizer)
    results = fid_between(*image_sets, extractor, FLAGS.kid_subsets, FLAGS.kid_subset_size,
                          names=(os.path.abspath(argv[1]), os.path.abspath(argv[2])))
  except (ValueError, inception.WeightsError) as e:
    sys.stderr.write(f'FATAL {type(e).__name__}: {e}\n')
    sys.exit(1)
  except KeyboardInterrupt:
    console.interrupted('nothing was written (the results are printed at the end)')
  print(f'FID: {results["fid"]:.6f}')
  print(f'KID: {results["kid_mean"]:.6f} +- {results["kid_std"]:.6f}')
  print(f'({len(image_sets[0])} vs {len(image_sets[1])} images, resizer {FLAGS.resizer}, '
        f'weights sha1 {inception.WEIGHTS_SHA1})')


if __name__ == '__main__':
  define_flags()
  app.run(main)
