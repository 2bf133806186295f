"""jaxgan.inference.api against the family functions it wraps, on runs written by the trainer: the
trainer's own sample grid reproduced, padding to a bucket changing no image, one compilation per
bucket, labels, interpolation, translation of batches, info, and one-line errors."""
import json
import os

import jax
import numpy as np
import pytest
from PIL import Image

import jaxgan
import translate_family
from conftest import CompileCounter, shrunk_config, tiny_dcgan_config
from jaxgan import config_lib
from jaxgan.data import images as image_lib
from jaxgan.data import sources as data
from jaxgan.evaluation import results as results_lib
from jaxgan import families
from jaxgan.families import gan as gan_family
from jaxgan.inference import api
from jaxgan.inference import runs
from zoo_testing import tiny_zoo_config
from test_image_to_image import TINY_I2I
from test_pixelcnn import TINY_PIXELCNN
from test_unpaired import TINY_UNPAIRED


@pytest.fixture
def dcgan_run(trained_run):
  return trained_run(tiny_dcgan_config())


@pytest.fixture
def cgan_run(trained_run):
  return trained_run(tiny_zoo_config('cgan', data__image_size=16, data__resize=True))


def _family_samples(workdir, num, seed, step=None):
  """uint8 family.sample(state, key(seed), num): the path of the trainer and jaxgan.sample."""
  _, family, state = runs.load_run(workdir, step)
  return image_lib.to_uint8(jax.jit(family.sample, static_argnums=2)(
      state, jax.random.key(seed), num))


def test_sample_reproduces_the_trainers_last_grid(dcgan_run):
  config = runs.load_config(dcgan_run)
  model = jaxgan.load(dcgan_run)
  assert model.step == config.train.num_steps
  key = families.root_keys(config.seed)['sample']
  grid = image_lib.make_grid(model.sample(config.train.num_sample_images, seed=key))
  written = np.asarray(Image.open(os.path.join(
      dcgan_run, 'samples', f'step_{config.train.num_steps:07d}.png')))
  np.testing.assert_array_equal(grid, written.reshape(grid.shape))


@pytest.mark.parametrize('num', [1, 3, 5, 11])
def test_padding_to_a_bucket_or_chunking_changes_no_image(dcgan_run, num):
  model = api.load(dcgan_run, max_batch=4)  # 11 = chunks of 4, 4 and 3 (padded to 4)
  np.testing.assert_array_equal(model.sample(num, seed=7), _family_samples(dcgan_run, num, 7))


def test_one_compilation_per_bucket(dcgan_run):
  model = api.load(dcgan_run)
  with CompileCounter('generate') as counter:
    for num in (3, 4, 3):  # bucket 4
      model.sample(num, seed=num)
    assert counter.count == 1
    model.sample(5, seed=0)  # bucket 8
    assert counter.count == 2


def test_step_selects_the_checkpoint(dcgan_run):
  early = api.load(dcgan_run, step=5)
  assert early.step == 5
  np.testing.assert_array_equal(early.sample(4, seed=1), _family_samples(dcgan_run, 4, 1, 5))
  assert not np.array_equal(early.sample(4, seed=1), api.load(dcgan_run).sample(4, seed=1))


def test_labels_of_a_conditional_run(cgan_run):
  model = api.load(cgan_run)
  _, family, state = runs.load_run(cgan_run)
  classes = family.num_classes
  assert model.label_classes == classes > 0
  latents = np.asarray(jax.random.normal(jax.random.key(2), (6, family.latent_dim)))
  labels = np.array([9, 0, 3, 3, 1, 7])
  generate = jax.jit(family.generate)
  expected = image_lib.to_uint8(generate(state, latents, labels))
  np.testing.assert_array_equal(model.sample(6, seed=2, labels=labels), expected)
  np.testing.assert_array_equal(model.generate(latents, labels), expected)
  balanced = image_lib.to_uint8(generate(state, latents, gan_family.balanced_labels(6, classes)))
  np.testing.assert_array_equal(model.sample(6, seed=2), balanced)
  for bad in ([0, 1, 2], [0, 1, 2, 3, 4, classes], [-1] * 6, [0.5] * 6):
    with pytest.raises(ValueError, match='labels'):
      model.sample(6, seed=2, labels=bad)


def test_unconditional_run_refuses_labels(dcgan_run):
  with pytest.raises(ValueError, match='unconditional'):
    api.load(dcgan_run).sample(2, labels=[0, 1])


def test_interpolation_rows_run_between_two_latents(dcgan_run):
  model = api.load(dcgan_run)
  strips = model.interpolate(3, frames=4, seed=5)
  assert strips.shape == (3, 4, *model.image_shape)
  start_key, end_key = jax.random.split(jax.random.key(5))
  for frame, key in ((0, start_key), (-1, end_key)):
    ends = model.generate(jax.random.normal(key, (3, model.family.latent_dim)))
    np.testing.assert_array_equal(strips[:, frame], ends)


def test_info_is_json_and_holds_the_run(trained_run, tmp_path):
  dcgan_run = trained_run(tiny_dcgan_config(), copy_to=str(tmp_path / 'run'))  # it writes eval/
  results_lib.record_results(dcgan_run, 5, {'fid': 12.5}, {'fid': {'num_samples': 8}}, 'eval')
  info = api.load(dcgan_run).info
  json.dumps(info)
  config = runs.load_config(dcgan_run)
  assert info['family'] == 'gan' and info['step'] == config.train.num_steps
  assert info['capabilities'] == ['generate', 'sample']
  assert info['image_shape'] == [config.data.image_size] * 2 + [config.data.channels]
  assert info['latent_dim'] == 8 and info['label_classes'] == 0
  assert info['config'] == config.to_dict()
  assert info['fingerprint']['family'] == 'gan'
  assert [(e['step'], e['metrics']) for e in info['eval_results']] == [(5, {'fid': 12.5})]


@pytest.mark.parametrize('call, message', [
    (lambda m: m.sample(0), 'positive number'),
    (lambda m: m.sample(2.0), 'positive number'),
    (lambda m: m.generate(np.zeros((2, 3))), r'latents must be \[N, 8\]'),
    (lambda m: m.translate(np.zeros((4, 4, 1), np.uint8)), r"no translate\(\); it offers "
                                                          r"\['generate', 'sample'\]"),
])
def test_bad_calls_are_one_line_errors(dcgan_run, call, message):
  with pytest.raises((ValueError, config_lib.ConfigError), match=message) as error:
    call(api.load(dcgan_run))
  assert '\n' not in str(error.value)


@pytest.fixture(scope='module')
def translate_run(tmp_path_factory):
  with pytest.MonkeyPatch.context() as patch:
    patch.setitem(families.FAMILIES, 'translate_test', translate_family.TranslateTestFamily)
    workdir = str(tmp_path_factory.mktemp('translate'))
    config = translate_family.get_config(channels=3, seed=0)
    state = translate_family.write_run(workdir, config)
    yield workdir, translate_family.TranslateTestFamily(config), state


def test_translate_a_batch_an_image_and_tiles(translate_run):
  workdir, family, state = translate_run
  model = api.load(workdir, max_batch=2)
  images = np.random.default_rng(0).integers(0, 256, (3, 10, 12, 3), np.uint8)
  expected = image_lib.to_uint8(family.translate(state, images))
  np.testing.assert_array_equal(model.translate(images), expected)
  np.testing.assert_array_equal(model.translate(images[1]), expected[1])
  tiled = model.translate(images[2], tile=8, overlap=translate_family.RADIUS)
  assert tiled.shape == expected[2].shape
  # Tiles reaching the receptive field radius give the whole image's output, up to a float sum
  # in another order rounding a level the other way.
  difference = np.abs(tiled.astype(int) - expected[2])
  assert difference.max() <= 1 and (difference > 0).mean() < 1e-2
  assert model.info['input_channels'] == 3 and model.info['tileable'] is True


@pytest.mark.parametrize('images, message', [
    (np.zeros((8, 8, 1), np.uint8), '3-channel'),
    (np.zeros((8, 8, 3), np.float32), 'uint8'),
    (np.zeros((8, 3), np.uint8), 'uint8 images'),
])
def test_translate_refuses_wrong_images(translate_run, images, message):
  with pytest.raises(ValueError, match=message):
    api.load(translate_run[0]).translate(images)


def test_translate_refuses_a_direction_on_a_paired_run(translate_run):
  with pytest.raises(ValueError, match='unpaired'):
    api.load(translate_run[0]).translate(np.zeros((8, 8, 3), np.uint8), direction='b2a')


def test_a_run_trained_on_padded_digits_inpaints_raw_28x28_digits(tmp_path_factory):
  """inpaint.py's default: a context encoder on mnist_5k's 28x28 digits zero-padded to 32x32.
  A raw digit is padded as in training (mask too, the padding known) and cropped back."""
  # Initial weights x 4: a fill that varies with position.
  workdir = translate_family.untrained_run(tmp_path_factory, 'inpaint_digits',
                                           shrunk_config('inpaint.py', TINY_I2I, 'digits'),
                                           scale=4.0)
  model = api.load(workdir)
  digits = data.load_mnist_5k('test').images[:3]
  masks = np.zeros_like(digits)
  masks[:, 7:21, 7:21] = 1  # the centre of the digit, where training's 14x14 hole lies
  filled = model.inpaint(digits, masks)
  assert filled.shape == digits.shape
  np.testing.assert_array_equal(filled[masks == 0], digits[masks == 0])
  as_trained = model.inpaint(data.pad_images(digits, 32), data.pad_images(masks, 32))
  assert np.ptp(as_trained[:, 9:23, 9:23]) > 10  # the fill could tell a misplaced padding
  difference = np.abs(filled.astype(int) - as_trained[:, 2:30, 2:30])
  assert difference.max() <= 1  # two compilations may round a level apart
  np.testing.assert_array_equal(model.inpaint(digits[0], masks[0]), filled[0])
  with pytest.raises(ValueError, match='at most 32x32'):
    model.inpaint(np.zeros((36, 30, 1), np.uint8), np.zeros((36, 30, 1), np.uint8))
  # jaxgan.translate on a 28x28 PNG, with the config's centred 14x14 hole: the same fill.
  from jaxgan import translate  # pylint: disable=g-import-not-at-top
  path = tmp_path_factory.mktemp('digit')
  Image.fromarray(digits[0, ..., 0]).save(path / 'digit.png')
  translate.translate_files(workdir, str(path / 'digit.png'), str(path / 'filled.png'))
  np.testing.assert_array_equal(np.asarray(Image.open(path / 'filled.png'))[..., None],
                                filled[0])


@pytest.mark.parametrize('config_file, shrink', [('pix2pix.py', TINY_I2I),
                                                 ('cyclegan.py', TINY_UNPAIRED)])
def test_translators_trained_on_padded_digits_pad_raw_digits_as_in_training(
    tmp_path_factory, config_file, shrink):
  model = api.load(translate_family.untrained_run(tmp_path_factory, config_file[:-3],
                                                  shrunk_config(config_file, shrink)))
  digits = data.load_mnist_5k('test').images[:2]
  translated = model.translate(digits)
  assert translated.shape == digits.shape
  as_trained = model.translate(data.pad_images(digits, 32))[:, 2:30, 2:30]
  assert np.abs(translated.astype(int) - as_trained).max() <= 1


@pytest.mark.slow
def test_pixelcnn_samples_at_a_bucket_equal_the_family(trained_run):
  """No latents to pad: the whole sampler runs at the bucket; the prefix is the family's."""
  config = shrunk_config('pixelcnn.py', TINY_PIXELCNN, data__image_size=8, data__resize=True)
  workdir = trained_run(config)
  model = api.load(workdir)
  assert not model.can('generate')
  np.testing.assert_array_equal(model.sample(3, seed=4), _family_samples(workdir, 3, 4))
  with pytest.raises(config_lib.ConfigError, match='interpolate'):
    model.interpolate(2)
