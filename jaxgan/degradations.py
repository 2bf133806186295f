"""Degradations that make a paired example from a clean image, on the fly, on the host.

`make(config.data.degradation)` returns degrade(images uint8 [N, H, W, C]) -> dict of arrays
that PairedSource puts beside the clean 'target' (always an 'input', plus e.g. a 'mask'):

  downscale     input = PIL `Image.resize((W // s, H // s), Image.BICUBIC)` of the uint8 image
                (PIL's antialiased bicubic), s = `factor`; H and W must be divisible by s.
                The usual super-resolution protocol (e.g. BasicSR's bicubic LR).
  center_mask   input = the image with a centred `size` x `size` square set to 0; 'mask' is
                uint8 [N, H, W, 1], 1 inside the hole (Pathak et al. 2016's context encoder).
"""
from typing import Callable

import ml_collections
import numpy as np
from PIL import Image

from jaxgan import config_lib

Degrade = Callable[[np.ndarray], dict]


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


def center_mask(images: np.ndarray, size: int) -> dict:
  height, width = images.shape[1:3]
  if not 0 < size <= min(height, width):
    raise ValueError(f'center_mask size {size} does not fit {height}x{width} images.')
  top, left = (height - size) // 2, (width - size) // 2
  mask = np.zeros((len(images), height, width, 1), np.uint8)
  mask[:, top:top + size, left:left + size] = 1
  return {'input': images * (1 - mask), 'mask': mask}


DEGRADATIONS = {
    'downscale': (downscale, ('factor',)),
    'center_mask': (center_mask, ('size',)),
}


def make(degradation_config: ml_collections.ConfigDict) -> Degrade:
  """The degradation config.data.degradation names, with its fields bound."""
  name = degradation_config.name
  if name not in DEGRADATIONS:
    raise config_lib.ConfigError(f'Unknown config.data.degradation.name {name!r}; choose one '
                                 f'of {sorted(DEGRADATIONS)}.')
  function, fields = DEGRADATIONS[name]
  missing = [f for f in fields if f not in degradation_config]
  if missing:
    raise config_lib.ConfigError(f'config.data.degradation ({name}) needs the fields {missing}.')
  kwargs = {f: degradation_config[f] for f in fields}
  return lambda images: function(images, **kwargs)
