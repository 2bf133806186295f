"""Resizing images to the FID network's 299x299, as a named protocol.

- `clean` (default): Parmar et al. 2022 (arXiv:2104.11222, clean-fid): images are uint8 first
  (generated images are quantized as if saved to PNG), then each channel is resized with PIL's
  antialiased bicubic filter on float32 ('F' mode) and clipped to [0, 255], not re-quantized.
- `legacy_tf`: TensorFlow 1's `resize_bilinear(align_corners=False)` (source pixel = output pixel
  * in / out, no antialiasing), what the original TF FID code's graph did to non-299 inputs.

Both take uint8 NHWC images (C = 1 or 3; grayscale is repeated to RGB) and return float32
[N, 299, 299, 3] on the uint8 scale.
"""
import numpy as np
from PIL import Image


SIZE = 299


def _check(images: np.ndarray) -> np.ndarray:
  images = np.asarray(images)
  if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
    raise ValueError(f'Resizing expects uint8 images [N, H, W, 1 or 3], got {images.dtype} '
                     f'{images.shape}.')
  return images


def _to_rgb(images: np.ndarray) -> np.ndarray:
  return np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images


def clean_resize(images: np.ndarray) -> np.ndarray:
  """clean-fid's resize: PIL bicubic per channel in float mode, clipped to [0, 255]."""
  images = _check(images)
  out = np.empty((len(images), SIZE, SIZE, images.shape[-1]), np.float32)
  for i, image in enumerate(images):
    for c in range(images.shape[-1]):
      channel = Image.fromarray(image[..., c].astype(np.float32))  # mode 'F'
      out[i, ..., c] = np.asarray(channel.resize((SIZE, SIZE), Image.BICUBIC))
  return _to_rgb(np.clip(out, 0, 255))


def _tf1_bilinear_matrix(in_size: int, out_size: int) -> np.ndarray:
  """[out, in] weights of TF1 bilinear resizing along one axis (align_corners=False)."""
  source = np.arange(out_size) * (in_size / out_size)
  lower = np.floor(source).astype(np.int64)
  upper = np.minimum(lower + 1, in_size - 1)
  fraction = source - lower
  matrix = np.zeros((out_size, in_size))
  np.add.at(matrix, (np.arange(out_size), lower), 1 - fraction)
  np.add.at(matrix, (np.arange(out_size), upper), fraction)
  return matrix


def legacy_tf_resize(images: np.ndarray) -> np.ndarray:
  """TF1 `resize_bilinear(align_corners=False, half_pixel_centers=False)` to 299x299."""
  images = _check(images)
  rows = _tf1_bilinear_matrix(images.shape[1], SIZE)
  columns = _tf1_bilinear_matrix(images.shape[2], SIZE)
  out = np.einsum('ph,nhwc,qw->npqc', rows, images.astype(np.float64), columns, optimize=True)
  return _to_rgb(out.astype(np.float32))


RESIZERS = {'clean': clean_resize, 'legacy_tf': legacy_tf_resize}


def get(name: str):
  if name not in RESIZERS:
    raise ValueError(f'Unknown resizer {name!r}; choose one of {sorted(RESIZERS)}.')
  return RESIZERS[name]
