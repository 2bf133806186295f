"""Degradations that make a paired example from a clean image, on the fly, on the host.

`make(config.data.degradation)` returns degrade(images uint8 [N, H, W, C], keys int [N]) -> dict
of arrays that PairedSource puts beside the clean 'target' (always an 'input', plus e.g. a
'mask'). `keys` make random degradations a pure function of the example: the example's position
in the data stream while training (a new mask every epoch, the same after a resume), its index
in the split when evaluating (a fixed test set).

  downscale   input = PIL `Image.resize((W // s, H // s), Image.BICUBIC)` of the uint8 image
              (PIL's antialiased bicubic), s = `factor`; H and W must be divisible by s.
              The usual super-resolution protocol (e.g. BasicSR's bicubic LR).
  edges       input = 255 x skimage.feature.canny(luma / 255, sigma) (Canny 1986, skimage's
              default hysteresis thresholds 0.1 / 0.2): pix2pix's edges -> image task (Isola et
              al. 2017 made theirs with HED; Canny needs no network).
  mask        input = the image with its hole set to 0; 'mask' uint8 [N, H, W, 1], 1 = missing,
              drawn by jaxgan/data/masks.py (`mask`: a masks config: centre square, rectangles or
              free-form strokes) from each example's key.
"""
from typing import Callable

import ml_collections
import numpy as np
from PIL import Image

from jaxgan import config_lib
from jaxgan.data import masks as masks_lib

Degrade = Callable[[np.ndarray, np.ndarray], dict]


def downscale(images: np.ndarray, factor: int) -> dict:
  height, width, channels = images.shape[1:]
  if height % factor or width % factor:
    raise ValueError(f'downscale by {factor} needs image sides divisible by it, got '
                     f'{height}x{width}; crop the images or change the factor.')
  small = []
  for image in images:
    pil = Image.fromarray(image[..., 0] if channels == 1 else image)
    out = np.asarray(pil.resize((width // factor, height // factor), Image.BICUBIC))
    small.append(out[..., None] if channels == 1 else out)
  return {'input': np.stack(small)}


def edges(images: np.ndarray, sigma: float) -> dict:
  from skimage import feature  # pylint: disable=g-import-not-at-top
  maps = []
  for image in images:
    luma = image[..., 0] if image.shape[-1] == 1 else np.asarray(
        Image.fromarray(image[..., :3]).convert('L'))
    maps.append(feature.canny(luma / 255.0, sigma=sigma))
  return {'input': (np.stack(maps)[..., None] * 255).astype(np.uint8)}


def hole(images: np.ndarray, keys: np.ndarray, generate: Callable) -> dict:
  mask = generate(keys, *images.shape[1:3])
  return {'input': images * (1 - mask), 'mask': mask}


def _make_mask(config: ml_collections.ConfigDict) -> Callable:
  try:
    generate = masks_lib.make(config.mask)
  except ValueError as e:
    raise config_lib.ConfigError(str(e)) from None
  return lambda images, keys: hole(images, keys, generate)


# name: (fields, degrade builder from the config block)
DEGRADATIONS = {
    'downscale': (('factor',), lambda c: lambda images, keys: downscale(images, c.factor)),
    'edges': (('sigma',), lambda c: lambda images, keys: edges(images, c.sigma)),
    'mask': (('mask',), _make_mask),
}


def make(degradation_config: ml_collections.ConfigDict) -> Degrade:
  """The degradation config.data.degradation names, with its fields bound."""
  name = degradation_config.name
  if name not in DEGRADATIONS:
    raise config_lib.ConfigError(f'Unknown config.data.degradation.name {name!r}; choose one '
                                 f'of {sorted(DEGRADATIONS)}.')
  fields, build = DEGRADATIONS[name]
  missing = [f for f in fields if f not in degradation_config]
  if missing:
    raise config_lib.ConfigError(f'config.data.degradation ({name}) needs the fields {missing}.')
  return build(degradation_config)
