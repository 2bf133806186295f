"""The Flax FID Inception against NVIDIA's TorchScript model (reader: test_pretrained_weights)."""
import shutil

import jax
import numpy as np
import pytest
import torch  # a test dependency: its absence fails, never skips

from jaxgan.data import sources as data
from jaxgan.evaluation import metrics
from jaxgan.evaluation import resize
from jaxgan.pretrained import inception



@pytest.fixture(scope='session')
def params():
  return inception.load_params()


@pytest.fixture(scope='session')
def parity_images():
  """Six 299x299 inputs on the uint8 scale: 3 upsampled digits, 3 noise/gradient images."""
  digits = resize.clean_resize(data.load_mnist_5k('test').images[:3])
  rng = np.random.default_rng(0)
  noise = rng.integers(0, 256, (2, 299, 299, 3)).astype(np.float32)
  ramp = np.broadcast_to(np.linspace(0, 255, 299, dtype=np.float32)[None, :, None, None],
                         (299, 299, 1, 3)).transpose(2, 0, 1, 3)
  return np.concatenate([digits, noise, ramp]).astype(np.float32)


@pytest.mark.filterwarnings('ignore:`torch.jit.load` is deprecated')
def test_pool3_features_match_torchscript(params, parity_images):
  ours = np.asarray(jax.jit(inception.pool3_features)(params, parity_images))
  model = torch.jit.load(inception.default_weights_path()).eval()
  with torch.no_grad():
    theirs = model(torch.from_numpy(parity_images.transpose(0, 3, 1, 2) / 128.0 - 1.0)).numpy()
  assert ours.shape == theirs.shape == (6, inception.FEATURE_DIM)
  relative = np.linalg.norm(ours - theirs, axis=1) / np.linalg.norm(theirs, axis=1)
  assert relative.max() < 1e-4, relative
  fid_ours = metrics.frechet_distance(metrics.feature_statistics(ours[:3]),
                                      metrics.feature_statistics(ours[3:]))
  fid_theirs = metrics.frechet_distance(metrics.feature_statistics(theirs[:3]),
                                        metrics.feature_statistics(theirs[3:]))
  np.testing.assert_allclose(fid_ours, fid_theirs, rtol=1e-3)


def test_network_rejects_unresized_images(params):
  with pytest.raises(ValueError, match='299'):
    inception.pool3_features(params, np.zeros((1, 28, 28, 3), np.float32))


def test_wrong_checksum_is_refused(tmp_path, monkeypatch):
  monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'cache'))
  fake = tmp_path / 'default_1.pt'
  fake.write_bytes(b'not the weights')
  with pytest.raises(inception.WeightsError, match='sha1'):
    inception.load_params(str(fake))


def test_conversion_is_cached_and_matches_a_fresh_conversion(tmp_path, monkeypatch, params):
  monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path))
  copy = tmp_path / 'weights.pt'
  shutil.copy(inception.default_weights_path(), copy)
  fresh = inception.load_params(str(copy))
  cached_files = list((tmp_path / 'jaxgan').glob('inception_fid_*.npz'))
  assert len(cached_files) == 1
  copy.unlink()  # the cache is used from now on, the weights file is not needed
  monkeypatch.setattr(inception, 'default_weights_path', lambda: str(copy))
  for a, b, c in zip(jax.tree.leaves(fresh), jax.tree.leaves(inception.load_params()),
                     jax.tree.leaves(params)):
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize('zip_format', [True, False])
def test_logits_head_is_read_from_a_torch_state_dict(tmp_path, zip_format):
  """Both torch.save formats: pytorch-fid's 2019 weights file predates the zip format."""
  weight = torch.randn(1008, 2048)
  path = tmp_path / 'pt_inception.pth'
  torch.save({'fc.weight': weight, 'fc.bias': torch.zeros(1008),
              'Conv2d_1a_3x3.conv.weight': torch.randn(32, 3, 3, 3)[:, :, ::2, :]}, path,
             _use_new_zipfile_serialization=zip_format)
  np.testing.assert_array_equal(inception.load_logits_head(str(path)), weight.numpy().T)
  other = tmp_path / 'other.pth'
  torch.save({'something': torch.zeros(2)}, other, _use_new_zipfile_serialization=zip_format)
  with pytest.raises(inception.WeightsError, match='fc.weight'):
    inception.load_logits_head(str(other))
