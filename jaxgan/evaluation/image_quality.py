"""Full-reference image quality of restored images: PSNR, SSIM and the luma (Y) conversion.

Pure, jittable functions on batches: `a` and `b` are NHWC arrays, uint8 or float on the uint8
scale (data range 255, the peak in PSNR and L in SSIM), C = 1 or 3 (RGB); each returns one value
per example, shape [N]. Model outputs in [-1, 1] must be quantized first (images.to_uint8's
rounding): the papers score saved 8-bit images.

Super-resolution protocol (`sr_metrics`, `protocol`), both conventions of the literature:
  psnr_rgb, ssim_rgb  all channels, `scale` pixels cropped from every side;
  psnr_y, ssim_y      the ITU-R BT.601 luma of MATLAB's rgb2ycbcr (unrounded, as BasicSR's
                      to_y_channel), `scale` pixels cropped: the SR papers' numbers (SRGAN's
                      Ledig et al. 2017, ESRGAN's Wang et al. 2018 through BasicSR).
PSNR is 10 log10(255^2 / MSE) per image over all its pixels and channels; identical images give
+inf (as skimage and BasicSR), so a mean over a set with one exact copy is inf. SSIM is Wang et
al. 2004's: 11x11 Gaussian window (sigma 1.5), K1 0.01, K2 0.03, population (co)variances, the
mean of the SSIM map over the window's valid positions, per channel then averaged over channels,
equal to skimage's structural_similarity(gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=255) (skimage reflects the borders, then crops the 5
pixels the reflection touched: the same valid region).
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np

DATA_RANGE = 255.0
SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03
# MATLAB rgb2ycbcr's Y row for R, G, B in [0, 1]; offset 16 on the 0..255 scale.
_Y_WEIGHTS = (65.481, 128.553, 24.966)
_Y_OFFSET = 16.0


def _as_float(images) -> jax.Array:
  images = jnp.asarray(images)
  if images.ndim != 4 or images.shape[-1] not in (1, 3):
    raise ValueError(f'Image quality metrics take NHWC images with 1 or 3 channels, got shape '
                     f'{images.shape}.')
  return images.astype(jnp.float32)


def rgb_to_y(images) -> jax.Array:
  """Luma [N, H, W, 1] of RGB images [N, H, W, 3] on the 0..255 scale, not rounded:
  Y = 16 + (65.481 R + 128.553 G + 24.966 B) with R, G, B = channel / 255 (ITU-R BT.601)."""
  images = _as_float(images)
  if images.shape[-1] != 3:
    raise ValueError(f'rgb_to_y takes RGB images [N, H, W, 3], got shape {images.shape}.')
  return _Y_OFFSET + jnp.tensordot(images / DATA_RANGE, jnp.asarray(_Y_WEIGHTS, jnp.float32),
                                   axes=([3], [0]), precision=jax.lax.Precision.HIGHEST)[..., None]


def _prepare(a, b, crop_border: int, y_channel: bool) -> tuple[jax.Array, jax.Array]:
  """Both batches as float32, luma if asked (1-channel images are their own luma), cropped."""
  a, b = _as_float(a), _as_float(b)
  if a.shape != b.shape:
    raise ValueError(f'Image batches differ in shape: {a.shape} vs {b.shape}.')
  if crop_border < 0 or 2 * crop_border >= min(a.shape[1:3]):
    raise ValueError(f'crop_border={crop_border} must be >= 0 and leave pixels of the '
                     f'{a.shape[1]}x{a.shape[2]} images.')
  if y_channel and a.shape[-1] == 3:
    a, b = rgb_to_y(a), rgb_to_y(b)
  if crop_border:
    a = a[:, crop_border:-crop_border, crop_border:-crop_border]
    b = b[:, crop_border:-crop_border, crop_border:-crop_border]
  return a, b


@functools.partial(jax.jit, static_argnames=('crop_border', 'y_channel'))
def psnr(a, b, crop_border: int = 0, y_channel: bool = False) -> jax.Array:
  """PSNR in dB [N]: 10 log10(255^2 / MSE) over each image's pixels and channels after
  removing `crop_border` pixels from every side; `y_channel` scores the luma of RGB images
  (1-channel images are scored as they are). Identical images give +inf."""
  a, b = _prepare(a, b, crop_border, y_channel)
  # Row means first: a two-level float32 sum stays accurate on megapixel images.
  mse = jnp.mean(jnp.mean(jnp.square(a - b), axis=(2, 3)), axis=1)
  return 10.0 * jnp.log10(DATA_RANGE ** 2 / mse)


def _gaussian_window() -> np.ndarray:
  """scipy.ndimage.gaussian_filter's 1-D kernel for sigma 1.5, radius 5 (skimage's truncate)."""
  x = np.arange(SSIM_WINDOW) - SSIM_WINDOW // 2
  window = np.exp(-0.5 * (x / SSIM_SIGMA) ** 2)
  return (window / window.sum()).astype(np.float32)


def _filter_valid(maps: jax.Array) -> jax.Array:
  """Separable Gaussian filter of [B, H, W] maps at the valid positions: [B, H-10, W-10]."""
  window = jnp.asarray(_gaussian_window())
  x = maps[..., None]
  for kernel in (window.reshape(-1, 1, 1, 1), window.reshape(1, -1, 1, 1)):
    x = jax.lax.conv_general_dilated(x, kernel, (1, 1), 'VALID',
                                     dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
                                     precision=jax.lax.Precision.HIGHEST)
  return x[..., 0]


@functools.partial(jax.jit, static_argnames=('crop_border', 'y_channel'))
def ssim(a, b, crop_border: int = 0, y_channel: bool = False) -> jax.Array:
  """SSIM [N] of Wang et al. 2004 (module docstring) after removing `crop_border` pixels from
  every side; `y_channel` scores the luma of RGB images (1-channel images are scored as they
  are). Images must keep at least 11x11 pixels after the crop."""
  a, b = _prepare(a, b, crop_border, y_channel)
  num, height, width, channels = a.shape
  if min(height, width) < SSIM_WINDOW:
    raise ValueError(f'SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels after '
                     f'the border crop, got {height}x{width}.')
  # One map per (image, channel). (Co)variances are taken of the maps less their rounded mean
  # (exact on integers): that leaves them unchanged and keeps E[x^2] - E[x]^2 from cancelling
  # in float32 (errors of 3e-5 on bright flat images without it).
  x, y = (jnp.moveaxis(t, 3, 1).reshape(num * channels, height, width) for t in (a, b))
  x_mean, y_mean = (jnp.round(t.mean(axis=(1, 2), keepdims=True)) for t in (x, y))
  x, y = x - x_mean, y - y_mean
  mu_x, mu_y, xx, yy, xy = jnp.split(_filter_valid(jnp.concatenate([x, y, x * x, y * y, x * y])),
                                     5)
  var_x, var_y, cov = xx - mu_x * mu_x, yy - mu_y * mu_y, xy - mu_x * mu_y
  mu_x, mu_y = mu_x + x_mean, mu_y + y_mean
  c1, c2 = (SSIM_K1 * DATA_RANGE) ** 2, (SSIM_K2 * DATA_RANGE) ** 2
  ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
      (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2))
  return ssim_map.mean(axis=(1, 2)).reshape(num, channels).mean(axis=1)


def sr_metrics(outputs, targets, scale: int) -> dict[str, jax.Array]:
  """{'psnr_rgb', 'ssim_rgb', 'psnr_y', 'ssim_y'}, each [N], of super-resolved `outputs`
  against the high-resolution `targets` (uint8 scale), `scale` pixels cropped (module
  docstring)."""
  return {'psnr_rgb': psnr(outputs, targets, crop_border=scale),
          'ssim_rgb': ssim(outputs, targets, crop_border=scale),
          'psnr_y': psnr(outputs, targets, crop_border=scale, y_channel=True),
          'ssim_y': ssim(outputs, targets, crop_border=scale, y_channel=True)}


def protocol(scale: int) -> dict:
  """What sr_metrics' numbers mean, for results.json."""
  return {
      'data_range': DATA_RANGE,
      'inputs': 'uint8 images (model outputs rounded to uint8)',
      'crop_border': scale,
      'psnr': '10 log10(255^2 / MSE) per image over pixels and channels, then the mean',
      'ssim': f'Wang et al. 2004: Gaussian window {SSIM_WINDOW} sigma {SSIM_SIGMA}, K1 {SSIM_K1}, '
              f'K2 {SSIM_K2}, population covariances, valid region, per channel then mean '
              '(= skimage structural_similarity(gaussian_weights=True, sigma=1.5, '
              'use_sample_covariance=False, data_range=255))',
      'rgb': 'all channels (a grayscale image is its one channel)',
      'y': 'Y = 16 + (65.481 R + 128.553 G + 24.966 B), R, G, B in [0, 1] (ITU-R BT.601 as '
           'MATLAB rgb2ycbcr), not rounded; grayscale images are used as they are',
  }
