"""Full-reference image quality between two images or two folders of images.

  python -m jaxgan.compare_images A B [--y_channel] [--crop_border=K] [--metrics=psnr,ssim,lpips]

A and B are two image files, or two folders whose images are paired by file stem (`x.png` with
`x.jpg`; top level only, files of other extensions ignored; every image needs a partner).
Prints the means over the pairs, `PSNR: <dB>`, `SSIM: <value>`, `LPIPS: <value>`, then
`Pairs: <n>`. PSNR and SSIM are jaxgan/evaluation/image_quality.py's (data range 255; with
--y_channel on the BT.601 luma of RGB images, a grayscale pair as it is); LPIPS is
jaxgan/pretrained/lpips.py's VGG16 v0.1 on the RGB (or gray) pixels whatever --y_channel says.
--crop_border=K removes K pixels from every side before every metric (SR papers crop the
scale factor). Identical images have PSNR inf, and so has any mean that includes them.

Pixels are read by jaxgan/data/images.py:read_image (8-bit greyscale or RGB, upright; 16-bit
greyscale rounded v / 257; 32-bit refused). A greyscale image paired with an RGB one is
repeated to RGB. The two images of a pair must then have the same size.
"""
import os

from absl import app
from absl import flags
import numpy as np

from jaxgan import console
from jaxgan.data import images as image_lib
from jaxgan.evaluation import image_quality
from jaxgan.pretrained import lpips
from jaxgan.pretrained import weights

METRICS = {'psnr': 'PSNR', 'ssim': 'SSIM', 'lpips': 'LPIPS'}
# The smallest image side (after the crop) each metric can score.
_MIN_SIDE = {'psnr': 1, 'ssim': image_quality.SSIM_WINDOW, 'lpips': lpips.MIN_SIZE}


class ImageError(ValueError):
  """An image cannot be read, has no partner, or does not match its partner."""


def _image_files(folder: str) -> dict[str, str]:
  """{stem: file name} of the folder's images."""
  files = {}
  for name in sorted(os.listdir(folder)):
    stem, extension = os.path.splitext(name)
    if extension.lower() not in image_lib.IMAGE_EXTENSIONS or not os.path.isfile(os.path.join(folder, name)):
      continue
    if stem in files:
      raise ImageError(f'{folder} holds {files[stem]} and {name}: one image per file stem, '
                       'since images are paired by stem.')
    files[stem] = name
  if not files:
    raise ImageError(f'{folder} holds no images ({", ".join(image_lib.IMAGE_EXTENSIONS)}).')
  return files


def pair_paths(a: str, b: str) -> list[tuple[str, str]]:
  """[(path in A, path in B)]: the two files, or the two folders' images paired by stem."""
  for path in (a, b):
    if not os.path.exists(path):
      raise ValueError(f'{path} does not exist; pass two image files or two folders.')
  if os.path.isdir(a) != os.path.isdir(b):
    raise ValueError(f'{a} and {b} must both be image files or both folders.')
  if not os.path.isdir(a):
    return [(a, b)]
  files_a, files_b = _image_files(a), _image_files(b)
  unpaired = sorted(os.path.join(folder, files[stem])
                    for folder, files, others in ((a, files_a, files_b), (b, files_b, files_a))
                    for stem in files if stem not in others)
  if unpaired:
    more = f' and {len(unpaired) - 5} more' if len(unpaired) > 5 else ''
    shown = ', '.join(unpaired[:5]) + more
    raise ImageError(f'{len(unpaired)} image(s) without a partner of the same file stem in the '
                     f'other folder: {shown}.')
  return [(os.path.join(a, files_a[stem]), os.path.join(b, files_b[stem])) for stem in files_a]


def read_pair(path_a: str, path_b: str) -> tuple[np.ndarray, np.ndarray]:
  """Both images, a grayscale one repeated to RGB if the other is RGB; their sizes must match."""
  image_a, image_b = image_lib.read_image(path_a), image_lib.read_image(path_b)
  channels = max(image_a.shape[-1], image_b.shape[-1])
  image_a, image_b = (np.repeat(x, channels // x.shape[-1], axis=-1) for x in (image_a, image_b))
  if image_a.shape != image_b.shape:
    raise ImageError(f'{path_a} is {image_a.shape[:2]} and {path_b} is {image_b.shape[:2]} '
                     '(H, W): a pair must have one size.')
  return image_a, image_b


def compare(pairs: list[tuple[str, str]], metrics: list[str], crop_border: int = 0,
            y_channel: bool = False, lpips_weights=None) -> dict[str, float]:
  """{metric: mean over the pairs}; `lpips_weights` from lpips.load() when 'lpips' is asked."""
  values = {name: [] for name in metrics}
  for path_a, path_b in pairs:
    image_a, image_b = read_pair(path_a, path_b)
    side = min(image_a.shape[:2]) - 2 * crop_border
    for name in metrics:
      if side < _MIN_SIDE[name]:
        raise ValueError(f'{path_a} is {image_a.shape[:2]} (H, W): after --crop_border='
                         f'{crop_border} {name} needs sides of at least {_MIN_SIDE[name]}; '
                         'use a smaller crop.')
    a, b = image_a[None], image_b[None]
    if 'psnr' in values:
      values['psnr'].append(float(image_quality.psnr(a, b, crop_border, y_channel)[0]))
    if 'ssim' in values:
      values['ssim'].append(float(image_quality.ssim(a, b, crop_border, y_channel)[0]))
    if 'lpips' in values:
      bottom, right = a.shape[1] - crop_border, a.shape[2] - crop_border
      a, b = (image_lib.normalize_images(x[:, crop_border:bottom, crop_border:right])
              for x in (a, b))
      values['lpips'].append(float(lpips.distance(*lpips_weights, a, b)[0]))
  return {name: float(np.mean(v)) for name, v in values.items()}


FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command line's flags, defined when it runs (not on import: tools import together)."""
  flags.DEFINE_bool('y_channel', False, 'PSNR and SSIM on the BT.601 luma (Y).')
  flags.DEFINE_integer('crop_border', 0, 'Pixels removed from every side.')
  flags.DEFINE_list('metrics', ['psnr', 'ssim', 'lpips'], 'Metrics to compute.')


def main(argv):
  console.start_command(None)  # its positional arguments are checked below
  if len(argv) != 3:
    console.fatal('Usage: python -m jaxgan.compare_images A B [--y_channel] [--crop_border=K] '
                  '[--metrics=psnr,ssim,lpips]', console.EXIT_CONFIG_ERROR)
  metrics = [name.strip().lower() for name in FLAGS.metrics]
  unknown = [name for name in metrics if name not in METRICS]
  if unknown or not metrics:
    console.fatal(f'Unknown --metrics {unknown or "(none)"}; choose from {",".join(METRICS)}.',
                  console.EXIT_CONFIG_ERROR)
  if FLAGS.crop_border < 0:
    console.fatal(f'--crop_border={FLAGS.crop_border} must be >= 0.', console.EXIT_CONFIG_ERROR)
  try:
    pairs = pair_paths(*argv[1:])
    lpips_weights = lpips.load() if 'lpips' in metrics else None
    means = compare(pairs, metrics, FLAGS.crop_border, FLAGS.y_channel, lpips_weights)
  except (ImageError, image_lib.ImageReadError, weights.WeightsError) as e:
    console.fatal(e, console.EXIT_RUN_ERROR)
  except ValueError as e:
    console.fatal(e, console.EXIT_CONFIG_ERROR)
  for name, mean in means.items():
    print(f'{METRICS[name]}: {mean:.6f}')
  print(f'Pairs: {len(pairs)}')


if __name__ == '__main__':
  define_flags()
  app.run(main)
