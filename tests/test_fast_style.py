"""Fast style transfer (jaxgan/families/fast_style.py): the training loss is the style objective
of the network's output with the photograph as content and config.style.image as style; it
trains; it applies to any size without tiling; bad configs are refused in one line."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import shrunk_config
from jaxgan import config_lib
from jaxgan.data import image_sets
from jaxgan.data import images as image_lib
from jaxgan.data import sources as data
from jaxgan import families
from jaxgan.style import objective as style_transfer
from jaxgan.training import mesh as mesh_lib
from jaxgan.training import trainer as train

TINY_FAST_STYLE = {
    'model.features': 4,
    'model.num_blocks': 1,
    'data.image_size': 32,
    'data.crops_per_image': 4,
    'style.size': 48,
    'train.batch_size': 4,
    'train.num_steps': 2,
    'train.log_every': 1,
    'train.checkpoint_every': 2,
    'train.sample_every': 2,
    'train.num_sample_images': 2,
    'eval.every_steps': 0,
}


def tiny_config(arg: str | None = None, **overrides):
  return shrunk_config('fast_style.py', TINY_FAST_STYLE, arg, **overrides)


def _state(config):
  family = families.make(config)
  return family, families.init_state(family, mesh_lib.make_mesh(jax.devices()[:1]))


def test_training_loss_is_the_objective_against_the_photo_and_the_style_image():
  config = tiny_config('brick')
  family, state = _state(config)
  batch = data.first_examples(data.open_source(config.data, 'train'), 4)
  _, metrics = jax.jit(family.train_step)(state, batch, jax.random.key(0))
  # Independently: the style image read and resized here, the photos as content targets.
  style = style_transfer.resize_longer_side(image_sets.photo('brick', 3), 48)
  assert style.shape == (48, 48, 3)
  vgg, objective = state.frozen['vgg16'], style_transfer.DEFAULT

  @jax.jit
  def objective_terms(vgg, params, images, style):
    photos = image_lib.normalize_images(images)
    outputs = family.network.apply({'params': params}, photos, train=False)
    return style_transfer.losses(
        vgg, objective, outputs, style_transfer.content_targets(vgg, objective, photos),
        style_transfer.style_targets(vgg, objective, style[None] / 127.5 - 1))

  expected = objective_terms(vgg, state.generator.params, batch['image'], style)
  for name in ('content_loss', 'style_loss', 'tv_loss'):
    np.testing.assert_allclose(metrics[name], np.mean(expected[name]), rtol=2e-3, err_msg=name)
  np.testing.assert_allclose(metrics['generator_loss'], np.mean(expected['total']), rtol=2e-3)


def test_config_lowers_the_objective_of_a_batch():
  """(The trainer runs the config in test_translate_cli_stylizes_a_large_image_whole.)"""
  config = tiny_config(**{'optim.generator.learning_rate': 1e-2, 'style.style_weight': 1e4})
  family, state = _state(config)
  batch = data.first_examples(data.open_source(config.data, 'train'), 4)
  step = jax.jit(family.train_step)
  losses = []
  for i in range(15):
    state, metrics = step(state, batch, jax.random.key(i))
    losses.append(float(metrics['generator_loss']))
  assert {'content_loss', 'style_loss', 'tv_loss', 'generator_loss'} <= set(metrics)
  assert int(state.step) == 15 and np.all(np.isfinite(losses))
  # Measured 0.65 on this batch (0.6 held on the batch of the 16 photographs, before rocket and
  # china were held back for validation).
  assert losses[-1] < 0.75 * losses[0], losses


def test_translate_takes_any_size_and_eval_scores_the_objective():
  config = tiny_config()
  family, state = _state(config)
  image = np.random.default_rng(0).integers(0, 256, (1, 37, 50, 3), np.uint8)
  out = jax.jit(family.translate)(state, image)
  assert out.shape == (1, 37, 50, 3)
  padded = jnp.pad(image_lib.normalize_images(image), ((0, 0), (0, 3), (0, 2), (0, 0)), mode='edge')
  direct = jax.jit(family.network.apply, static_argnames='train')(
      {'params': state.generator.params}, padded, train=False)
  np.testing.assert_allclose(out, direct[:, :37, :50], atol=1e-6)
  batch = {'image': np.repeat(image[:, :32, :32], 2, axis=0), 'label': np.zeros(2, np.int32)}
  metrics = jax.jit(family.eval_metrics)(state, batch, jax.random.key(0))
  assert metrics['total'].shape == (2,)
  np.testing.assert_allclose(metrics['total'][0], metrics['total'][1], rtol=1e-6)
  objective = style_transfer.DEFAULT
  np.testing.assert_allclose(metrics['total'], objective.total(metrics), rtol=1e-6)


@pytest.mark.slow
def test_translate_cli_stylizes_a_large_image_whole(tmp_path):
  """Instance norm: --tile is ignored, so the file equals the whole image's translation."""
  from jaxgan import translate  # pylint: disable=g-import-not-at-top
  config = tiny_config()
  workdir = str(tmp_path / 'run')
  train.train_and_evaluate(config, workdir)
  image = np.random.default_rng(1).integers(0, 256, (40, 44, 3), np.uint8)
  image_lib.save_png(image, str(tmp_path / 'in.png'))
  translate.translate_files(workdir, str(tmp_path / 'in.png'), str(tmp_path / 'out.png'),
                            tile=16, overlap=4)
  from jaxgan.inference import runs  # pylint: disable=g-import-not-at-top
  _, family, state = runs.load_run(workdir)
  expected = image_lib.to_uint8(jax.jit(family.translate)(state, image[None])[0])
  np.testing.assert_array_equal(image_lib.read_image(str(tmp_path / 'out.png')), expected)


def test_fingerprint_names_the_style_image(tmp_path):
  image_lib.save_png(np.full((20, 20, 3), 7, np.uint8), str(tmp_path / 'flat.png'))
  prints = [families.make(tiny_config(style)).fingerprint()
            for style in ('brick', 'gravel', str(tmp_path / 'flat.png'))]
  assert len({p['style_image_sha1'] for p in prints}) == 3
  assert prints[2]['style_image_shape'] == [48, 48, 3]


@pytest.mark.parametrize('overrides, message', [
    ({'style.image': 'no_such_style'}, "config.style.image: Style 'no_such_style' is neither"),
    ({'data.channels': 1}, 'set config.data.channels=3'),
    ({'data.image_size': 30}, 'multiple of 4'),
    ({'style.size': 8}, r'style image is 8x\d+: .*raise config.style.size'),
    ({'style.content_layers': ('relu6_1',)}, 'config.style: content_layers must name VGG16'),
    ({'style.style_weight': -1.0}, 'config.style: style_weight must be >= 0'),
])
def test_bad_configs_are_refused(overrides, message):
  with pytest.raises(config_lib.ConfigError, match=message):
    families.make(tiny_config(**overrides))


def test_an_unreadable_style_file_is_refused(tmp_path):
  path = tmp_path / 'broken.png'
  path.write_bytes(b'not an image')
  with pytest.raises(config_lib.ConfigError,
                     match=f'config.style.image: .*{os.path.basename(path)}'):
    families.make(tiny_config(str(path)))
