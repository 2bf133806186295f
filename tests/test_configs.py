"""Every zoo config: loads with its paper cited, accepts the common overrides, builds at every
dataset preset, and runs 3 of the trainer's compiled steps in shrunk form. The image-to-image
configs choose their best checkpoint on images held back from training, not on the test split."""
import hashlib
import importlib.util
import os

import jax
import numpy as np
import pytest

from configs import blocks
from conftest import REPO
from conftest import run_compiled_steps
from jaxgan import config_lib
from jaxgan.data import image_sets
from jaxgan.data import sources as data
from jaxgan import families
from jaxgan.training import mesh as mesh_lib
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


# biggan's presets are its sizes, not datasets: tests/test_biggan.py builds its 128 preset.
@pytest.mark.parametrize('name, dataset', [
    (name, 'cifar10') for name in ZOO_CONFIGS if name != 'biggan'] + [
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
    for name in ZOO_CONFIGS if name != 'biggan'])  # tests/test_biggan.py runs biggan's
def test_config_trains_three_compiled_steps(name):
  """Three of the trainer's compiled steps: finite metrics, every network's parameters moved,
  and finite samples of the grid's size in [-1, 1]. (configs/dcgan.py runs through the whole
  trainer in test_train.py; the others differ only in what the step computes.)"""
  config = tiny_zoo_config(name)
  family = families.make(config)
  one_device = jax.devices()[:1]  # the 4-device step is test_train's (compiles faster)
  initial = jax.device_get(families.init_state(family, mesh_lib.make_mesh(one_device)))
  state, history, _ = run_compiled_steps(config, 3, one_device)
  assert int(state.step) == 3
  assert all(np.isfinite(value) for metrics in history for value in metrics.values()), history
  trained = jax.device_get(state)
  assert set(trained.networks) == {'generator', 'discriminator'}
  for network, before in initial.networks.items():
    assert any(not np.array_equal(a, b) for a, b in zip(
        jax.tree.leaves(trained.networks[network].params), jax.tree.leaves(before.params))), network
  num = config.train.num_sample_images
  samples = np.asarray(jax.jit(family.sample, static_argnums=2)(state, jax.random.key(0), num))
  assert samples.shape == (num, 28, 28, 1)
  assert np.all(np.isfinite(samples)) and np.abs(samples).max() <= 1.0


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
