"""Every zoo config: loads with its paper cited, accepts the common overrides, builds at every
dataset preset, and trains 3 steps in shrunk form through train.train_and_evaluate. The image-to-
image configs choose their best checkpoint on images held back from training, not on the test
split."""
import hashlib
import importlib.util
import os

import jax
import numpy as np
import pytest
from PIL import Image

from configs import blocks
from conftest import REPO
from jaxgan import config_lib
from jaxgan import data
from jaxgan import families
from jaxgan import image_sets
from jaxgan import train
from zoo_testing import tiny_zoo_config
from zoo_testing import ZOO_CONFIGS


def _path(name):
  return os.path.join(REPO, 'configs', f'{name}.py')


def test_every_gan_config_file_is_tested():
  names = {f[:-3] for f in os.listdir(os.path.join(REPO, 'configs'))
           if f.endswith('.py') and 'def get_config(' in open(_path(f[:-3])).read()}
  gan_names = {n for n in names if config_lib.load_config(_path(n)).family == 'gan'}
  assert gan_names == set(ZOO_CONFIGS)


# The ResNet-based and 5-critic configs compile for ~30 s each: in the full suite only.
SLOW_TO_TRAIN = ('wgan_gp', 'hinge_resnet', 'cgan', 'acgan', 'sagan')


@pytest.mark.parametrize('name', ZOO_CONFIGS)
def test_config_cites_its_paper_and_shows_its_command(name):
  spec = importlib.util.spec_from_file_location(name, _path(name))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  assert 'arXiv:' in module.__doc__
  assert f'--config=configs/{name}.py' in module.__doc__


@pytest.mark.parametrize('name, dataset', [(name, 'cifar10') for name in ZOO_CONFIGS] + [
    ('sngan', 'celeb_a'), ('hinge_resnet', 'celeb_a'), ('gan_mlp', 'celeb_a')])
def test_config_builds_at_other_presets(name, dataset):
  """Paper widths at the preset's image size (mnist_5k: the training test below): shapes only
  (jax.eval_shape, no compute)."""
  config = config_lib.load_config(f'{_path(name)}:{dataset}')
  assert config.data.name == dataset
  family = families.make(config)
  size, channels = config.data.image_size, config.data.channels
  batch = {'image': np.zeros((1, size, size, channels), np.uint8),
           'label': np.zeros((1,), np.int32)}
  state = jax.eval_shape(family.init, jax.random.key(0), batch)
  images = jax.eval_shape(lambda s, key: family.sample(s, key, 2), state, jax.random.key(0))
  assert images.shape == (2, size, size, channels)
  params = jax.tree.leaves(state.generator.params) + jax.tree.leaves(state.discriminator.params)
  assert all(p.dtype == np.float32 for p in params)


@pytest.mark.parametrize('name', ZOO_CONFIGS)
def test_common_overrides_exist(name):
  config = config_lib.load_config(_path(name))
  for dotted in ('train.num_steps', 'train.batch_size', 'train.checkpoint_every'):
    assert config_lib.unknown_override_message(config, dotted) is None
  with pytest.raises(AttributeError):
    config.model.generator_widthz = (1,)


@pytest.mark.parametrize('name', [
    pytest.param(name, marks=pytest.mark.slow) if name in SLOW_TO_TRAIN else name
    for name in ZOO_CONFIGS])
def test_config_trains_three_steps(tmp_path, name):
  config = tiny_zoo_config(name, train__num_steps=3, train__log_every=3,
                           train__checkpoint_every=3, train__sample_every=3)
  state = train.train_and_evaluate(config, str(tmp_path))
  assert int(state.step) == 3
  assert os.listdir(tmp_path / 'checkpoints') == ['3']
  grid = np.asarray(Image.open(tmp_path / 'samples' / 'step_0000003.png'))
  side = int(np.ceil(np.sqrt(config.train.num_sample_images)))
  assert grid.shape[:2] == (side * 30 + 2,) * 2  # 28x28 images with 2-pixel padding


def _image_hashes(data_config, split: str) -> set:
  """sha1 of every whole image (a digit, a photograph, a slice) of a split's (target) images."""
  source = data.open_source(data_config, split)
  images = getattr(source, 'targets', source).images
  return {hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest() for image in images}


@pytest.mark.parametrize('spec', ['fast_style', 'srresnet', 'srresnet:mri', 'sr_mri', 'srgan',
                                  'esrgan', 'pix2pix', 'pix2pix:mri', 'inpaint',
                                  'inpaint:photos_pconv'])
def test_image_to_image_configs_choose_their_best_checkpoint_on_held_back_images(spec):
  name, _, arg = spec.partition(':')
  config = config_lib.load_config(_path(name) + (f':{arg}' if arg else ''))
  evaluation, data_config = config.eval, config.data
  assert evaluation.heldout.split == data_config.test_split  # reported, not selected on
  assert evaluation.validation.prefix == 'validation_'
  assert evaluation.best_metric.startswith('validation_')
  train, validation, test = (_image_hashes(data_config, split) for split in (
      data_config.train_split, evaluation.validation.split, data_config.test_split))
  assert validation and len(train) > len(validation)
  assert not train & validation and not validation & test and not train & test


def test_mri_validation_slices_are_five_slices_from_training_and_test():
  zs = {}
  for role, split in zip(('train', 'validation'), blocks.VALIDATION_SPLITS['mni152_t1']):
    _, part = data.split_slice(split)
    zs[role] = image_sets.MRI_TRAIN_SLICES[part]
  assert set(zs['train']) | set(zs['validation']) < set(image_sets.MRI_TRAIN_SLICES)
  for other in (zs['train'], image_sets.MRI_TEST_SLICES):
    assert min(abs(a - b) for a in zs['validation'] for b in other) > 5
