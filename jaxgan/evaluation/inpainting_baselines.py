"""Classical inpainting baselines and the hole metrics they and the learned models are scored on.

Fills run on the host in numpy: fill(images uint8 [N, H, W, C], masks uint8 [N, H, W, 1]) ->
uint8 images, with 1 = a missing pixel (jaxgan/data/masks.py) and every known pixel kept exactly.

  dataset_mean_fill   each hole pixel = the per-channel mean of the training images
                      (`channel_mean`), rounded: what a model that ignores the context can do
  context_mean_fill   each hole pixel = the per-channel mean of the image's own known pixels
  biharmonic_fill     skimage.restoration.inpaint_biharmonic: the smooth (biharmonic) surface
                      that continues the known pixels into the hole (Damelin & Hoang 2018)

Metrics (`hole_metrics`, per example [N]): PSNR and L1 inside the hole only (Pathak et al.
2016, arXiv:1604.07379, score the hole; known pixels are copied and would only inflate the
score), SSIM of the whole image (image_quality.ssim). `hole_psnr` and `hole_l1` are pure jnp
functions, jittable, for the families' evaluation on device.
"""
import jax
import jax.numpy as jnp
import numpy as np
from skimage import restoration

from jaxgan.evaluation import image_quality


def _check(images: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """uint8 NHWC images and their [N, H, W, 1] masks; every image must keep a known pixel."""
  images, masks = np.asarray(images), np.asarray(masks)
  if images.dtype != np.uint8 or images.ndim != 4:
    raise ValueError(f'Inpainting fills take uint8 images [N, H, W, C], got {images.dtype} '
                     f'{images.shape}.')
  if masks.shape != images.shape[:3] + (1,):
    raise ValueError(f'Masks must be [N, H, W, 1] = {images.shape[:3] + (1,)} for images of '
                     f'shape {images.shape}, got {masks.shape}.')
  if (masks.reshape(len(masks), -1) != 0).all(axis=1).any():
    raise ValueError('A mask covers its whole image: there is no known pixel to fill from.')
  return images, masks != 0


def channel_mean(images: np.ndarray) -> np.ndarray:
  """Per-channel mean [C] (float64, 0..255) of uint8 images [N, H, W, C], e.g. the train split."""
  return np.asarray(images, np.float64).mean(axis=(0, 1, 2))


def _paste(images: np.ndarray, holes: np.ndarray, fill: np.ndarray) -> np.ndarray:
  """The images with `fill` (broadcastable, 0..255 floats) rounded into their holes."""
  fill = np.clip(np.round(fill), 0, 255).astype(np.uint8)
  return np.where(holes, np.broadcast_to(fill, images.shape), images)


def dataset_mean_fill(images: np.ndarray, masks: np.ndarray, mean: np.ndarray) -> np.ndarray:
  """Holes set to `mean` [C] (`channel_mean` of the training images), rounded to uint8."""
  images, holes = _check(images, masks)
  mean = np.asarray(mean, np.float64)
  if mean.shape != images.shape[-1:]:
    raise ValueError(f'The dataset mean must have one value per channel, shape '
                     f'{images.shape[-1:]}, got {mean.shape}.')
  return _paste(images, holes, mean)


def context_mean_fill(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
  """Holes set to each image's per-channel mean of its known pixels, rounded to uint8."""
  images, holes = _check(images, masks)
  known = ~holes
  mean = (images * known).sum(axis=(1, 2), dtype=np.float64) / known.sum(axis=(1, 2))
  return _paste(images, holes, mean[:, None, None, :])


def biharmonic_fill(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
  """Holes filled by skimage.restoration.inpaint_biharmonic(image / 255, mask, channel_axis=-1),
  which works on [0, 1] floats; its result times 255 is rounded to uint8."""
  images, holes = _check(images, masks)
  filled = np.stack([
      restoration.inpaint_biharmonic(image / 255.0, hole[..., 0], channel_axis=-1)
      for image, hole in zip(images, holes)])
  return _paste(images, holes, filled * 255.0)


def _hole_errors(outputs, targets, masks, power: int) -> jax.Array:
  """Mean |outputs - targets| ** power over each example's hole pixels and channels [N]."""
  outputs, targets = (jnp.asarray(x).astype(jnp.float32) for x in (outputs, targets))
  if outputs.shape != targets.shape or outputs.ndim != 4:
    raise ValueError(f'Hole metrics take outputs and targets of one NHWC shape, got '
                     f'{outputs.shape} and {targets.shape}.')
  masks = jnp.asarray(masks)
  if masks.shape != outputs.shape[:3] + (1,):
    raise ValueError(f'Masks must be [N, H, W, 1] = {outputs.shape[:3] + (1,)}, got '
                     f'{masks.shape}.')
  holes = (masks != 0).astype(jnp.float32)
  errors = jnp.abs(outputs - targets) ** power * holes
  return errors.sum(axis=(1, 2, 3)) / (holes.sum(axis=(1, 2, 3)) * outputs.shape[-1])


@jax.jit
def hole_psnr(outputs, targets, masks) -> jax.Array:
  """PSNR in dB [N] over the hole pixels only, all channels: 10 log10(255^2 / MSE_hole).
  Images are on the uint8 scale (uint8, or floats in 0..255). An exact hole gives +inf, an
  empty hole NaN."""
  return 10.0 * jnp.log10(image_quality.DATA_RANGE ** 2 / _hole_errors(outputs, targets, masks,
                                                                        2))


@jax.jit
def hole_l1(outputs, targets, masks) -> jax.Array:
  """Mean absolute error [N] over the hole pixels only, all channels, on the [0, 1] scale
  (the uint8 difference / 255). An empty hole gives NaN."""
  return _hole_errors(outputs, targets, masks, 1) / image_quality.DATA_RANGE


def hole_metrics(outputs: np.ndarray, targets: np.ndarray, masks: np.ndarray) -> dict:
  """{'hole_psnr', 'hole_l1', 'ssim'} as numpy arrays [N]; SSIM of the whole images."""
  return {'hole_psnr': np.asarray(hole_psnr(outputs, targets, masks)),
          'hole_l1': np.asarray(hole_l1(outputs, targets, masks)),
          'ssim': np.asarray(image_quality.ssim(outputs, targets))}
