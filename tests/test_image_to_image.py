"""pix2pix and inpainting: their configs train shrunk, masked losses ignore known pixels, the
composite keeps them bitwise, bitwise resume, and bad configs refused in one line."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from conftest import final_state
from conftest import run_compiled_steps
from conftest import shrunk_config
from conftest import straight_and_resumed
from jaxgan import config_lib
from jaxgan.data import images as image_lib
from jaxgan.data import sources as data
from jaxgan import families
from jaxgan.inference import runs
from jaxgan.training import mesh as mesh_lib
from jaxgan import translate

# The shrink applied to pix2pix.py and inpaint.py in tests: tiny widths, a few steps.
TINY_I2I = {
    'model.features': 4,
    'model.max_features': 8,
    'model.bottleneck': 8,
    'model.d_features': 4,
    'data.crops_per_image': 4,
    'train.batch_size': 4,
    'train.num_steps': 2,
    'train.log_every': 1,
    'train.checkpoint_every': 2,
    'train.sample_every': 2,
    'train.num_sample_images': 2,
    'eval.every_steps': 0,
}


def tiny_config(config_file: str, arg: str | None = None, **overrides):
  return shrunk_config(config_file, TINY_I2I, arg, **overrides)


@pytest.mark.parametrize('config_file, arg, terms', [
    ('pix2pix.py', None, {'reconstruction_loss', 'adversarial_loss', 'discriminator_loss'}),
    ('inpaint.py', 'digits', {'hole_loss', 'valid_loss', 'adversarial_loss'}),
    pytest.param('pix2pix.py', 'mri', {'reconstruction_loss', 'adversarial_loss'},
                 marks=pytest.mark.slow),
    pytest.param('inpaint.py', 'photos_pconv', {'hole_loss', 'valid_loss', 'perceptual_loss',
                                                'style_loss', 'tv_loss'}, marks=pytest.mark.slow)])
def test_configs_train_shrunk(config_file, arg, terms):
  config = tiny_config(config_file, arg)
  state, history, _ = run_compiled_steps(config, 2)
  assert int(state.step) == 2
  assert terms <= set(history[0]) and 'generator_loss' in history[0]
  assert all(np.isfinite(v) for step in history for v in step.values())
  assert ('discriminator' in state.networks) == bool(config.objective.adversarial_weight)


def test_masked_losses_ignore_known_pixels_and_the_composite_keeps_them():
  config = tiny_config('inpaint.py', 'digits_pconv', **{'objective.perceptual_weight': 0.0,
                                                        'objective.style_weight': 0.0})
  family = families.make(config)
  rng = np.random.default_rng(0)
  target = rng.integers(0, 256, (2, 32, 32, 1), dtype=np.uint8)
  mask = np.zeros((2, 32, 32, 1), np.uint8)
  mask[:, 9:23, 9:23] = 1
  batch = {'input': target * (1 - mask), 'mask': mask, 'target': target}
  outputs = jnp.asarray(rng.uniform(-1, 1, target.shape), jnp.float32)
  normalized = image_lib.normalize_images(target)

  def term(name):
    def loss(out):
      composite = family._compose(out, batch)  # pylint: disable=protected-access
      return family._reconstruction_terms(  # pylint: disable=protected-access
          {}, out, composite, normalized, batch)[name]
    return jax.jit(jax.grad(loss))(outputs)

  hole = mask.astype(bool)
  for name, region in (('hole_loss', hole), ('valid_loss', ~hole), ('tv_loss', None)):
    grad = np.asarray(term(name))
    if region is None:  # the total variation of the composite: only the fill moves it
      assert np.all(grad[~hole] == 0) and np.any(grad[hole] != 0)
    else:
      assert np.all(grad[~region] == 0) and np.all(grad[region] != 0), name
  # The hole loss is the mean squared or absolute error inside the hole (here l1).
  expected = np.mean(np.abs(np.asarray(outputs) - np.asarray(normalized))[hole])
  np.testing.assert_allclose(float(family._reconstruction_terms(  # pylint: disable=protected-access
      {}, outputs, outputs, normalized, batch)['hole_loss']), expected, rtol=1e-5)

  state = families.init_state(family, mesh_lib.make_mesh())
  filled = np.asarray(jax.jit(family.inpaint)(state, jnp.asarray(target), jnp.asarray(mask)))
  quantized = np.clip(np.round((filled + 1) * 127.5), 0, 255).astype(np.uint8)
  np.testing.assert_array_equal(quantized[~hole], target[~hole])


def test_masks_are_keyed_by_stream_position_in_training_and_by_index_in_evaluation():
  config = tiny_config('inpaint.py', 'digits', **{'data.degradation.mask.kind': 'rectangles'})
  train_source = data.open_source(config.data, 'train')
  n = len(train_source)
  first, again = data.host_batch(train_source, 0, 4, 0), data.host_batch(train_source, 0, 4, 0)
  np.testing.assert_array_equal(first['mask'], again['mask'])  # a resume sees the same holes
  later = data.host_batch(train_source, n, 4, 0)  # the next epoch: other examples' positions
  assert not np.array_equal(first['mask'], later['mask'])
  test_source = data.open_source(config.data, 'test')
  indices = np.arange(4)
  np.testing.assert_array_equal(test_source.get(indices)['mask'],
                                test_source.get(indices)['mask'])
  batch = test_source.get(indices)
  np.testing.assert_array_equal(batch['input'], batch['target'] * (1 - batch['mask']))


def test_edges_are_canny_of_the_padded_digit():
  from skimage import feature  # pylint: disable=g-import-not-at-top
  config = tiny_config('pix2pix.py')
  batch = data.open_source(config.data, 'test').get(np.arange(3))
  digits = data.load_mnist_5k('test').images[:3]
  np.testing.assert_array_equal(batch['target'][:, 2:30, 2:30], digits)
  assert not batch['target'][:, :2].any() and not batch['target'][:, 30:].any()
  for edges, target in zip(batch['input'], batch['target']):
    np.testing.assert_array_equal(edges[..., 0] > 0,
                                  feature.canny(target[..., 0] / 255.0, sigma=1.0))


def test_mri_pairs_are_the_same_voxels_of_tissue_maps_and_t1():
  from jaxgan.data import image_sets  # pylint: disable=g-import-not-at-top
  config = tiny_config('pix2pix.py', 'mri')
  for split in ('train', 'test'):
    source = data.open_source(config.data, split)
    batch = source.get(np.arange(0, len(source), max(1, len(source) // 5)))
    assert batch['input'].shape[-1] == 2 and batch['target'].shape[-1] == 1
    # White matter is bright in T1: its mean T1 exceeds grey matter's in every crop.
    gm, wm = batch['input'][..., 0] > 200, batch['input'][..., 1] > 200
    t1 = batch['target'][..., 0].astype(float)
    for i in range(len(t1)):
      if gm[i].sum() > 20 and wm[i].sum() > 20:
        assert t1[i][wm[i]].mean() > t1[i][gm[i]].mean() + 20
  test = data.open_source(config.data, 'test')
  slices = image_sets.mni152_slices('test', 2, ('gm', 'wm'))
  image, top, left = test.targets.windows[0]
  np.testing.assert_array_equal(test.get(np.array([0]))['input'][0],
                                slices[image][top:top + 64, left:left + 64])


@pytest.fixture(scope='module')
def pix2pix_runs(tmp_path_factory):
  """Workdirs of tiny pix2pix runs: 3 steps checkpointed every step, and a copy of it without
  its last checkpoint, resumed from step 2 (what a kill after that save leaves)."""
  root = tmp_path_factory.mktemp('pix2pix')
  config = tiny_config('pix2pix.py', **{'train.num_steps': 3, 'train.checkpoint_every': 1,
                                        'train.keep_checkpoints': 3})
  return (config, *straight_and_resumed(config, str(root)))


@pytest.mark.slow
def test_pix2pix_resumes_bitwise(pix2pix_runs):
  config, straight_dir, resumed_dir = pix2pix_runs
  straight, resumed = final_state(straight_dir, config), final_state(resumed_dir, config)
  assert set(straight.networks) == {'generator', 'discriminator'}
  for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed)):
    np.testing.assert_array_equal(a, b)


def _save(path, image):
  Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(path)


@pytest.mark.slow
def test_translate_applies_pix2pix_to_any_size(pix2pix_runs, tmp_path):
  _, workdir, _ = pix2pix_runs
  edges = (np.random.default_rng(0).random((37, 45)) > 0.8).astype(np.uint8) * 255
  _save(tmp_path / 'edges.png', edges[..., None])
  translate.translate_files(workdir, str(tmp_path / 'edges.png'), str(tmp_path / 'out.png'))
  _, family, state = runs.load_run(workdir)
  expected = image_lib.to_uint8(np.asarray(family.translate(state, edges[None, ..., None]))[0])
  np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / 'out.png'))[..., None],
                                expected)


def tiny_pconv_config():
  """A 1-step partial-convolution inpainting run on digits (any image size)."""
  return tiny_config('inpaint.py', 'digits_pconv', **{
      'train.num_steps': 1, 'objective.perceptual_weight': 0.0, 'objective.style_weight': 0.0})


@pytest.fixture
def inpainting_run(trained_run):
  return trained_run(tiny_pconv_config())


@pytest.mark.slow
def test_translate_inpaints_with_masks_keeping_known_pixels_bitwise(inpainting_run, tmp_path):
  rng = np.random.default_rng(0)
  (tmp_path / 'in').mkdir()
  (tmp_path / 'masks').mkdir()
  images = {'a': rng.integers(0, 256, (40, 36, 1), np.uint8),
            'b': rng.integers(0, 256, (32, 32, 1), np.uint8)}
  holes = {}
  for name, image in images.items():
    _save(tmp_path / 'in' / f'{name}.png', image)
    hole = np.zeros(image.shape, np.uint8)
    hole[5:20, 8:30] = 1
    holes[name] = hole
    _save(tmp_path / 'masks' / f'{name}.png', hole * 255)  # white = missing
  translate.translate_files(inpainting_run, str(tmp_path / 'in'), str(tmp_path / 'out'),
                            mask_path=str(tmp_path / 'masks'))
  _, family, state = runs.load_run(inpainting_run)
  inpaint = jax.jit(family.inpaint)
  for name, image in images.items():
    written = np.asarray(Image.open(tmp_path / 'out' / f'{name}.png'))[..., None]
    known = holes[name] == 0
    np.testing.assert_array_equal(written[known], image[known])
    expected = image_lib.to_uint8(np.asarray(inpaint(state, image[None], holes[name][None]))[0])
    np.testing.assert_array_equal(written, expected)

  # Without --mask: the config's mask generator (a centred 14x14 square), keyed by position.
  translate.translate_files(inpainting_run, str(tmp_path / 'in' / 'a.png'),
                            str(tmp_path / 'default.png'))
  written = np.asarray(Image.open(tmp_path / 'default.png'))[..., None]
  known = np.ones((40, 36, 1), bool)
  known[13:27, 11:25] = False
  np.testing.assert_array_equal(written[known], images['a'][known])
  assert not np.array_equal(written[~known], images['a'][~known])


@pytest.mark.slow
def test_translate_refuses_bad_masks_before_writing(inpainting_run, pix2pix_runs, tmp_path):
  _save(tmp_path / 'a.png', np.zeros((32, 32, 1), np.uint8))
  _save(tmp_path / 'small.png', np.zeros((16, 32, 1), np.uint8))
  with pytest.raises(config_lib.ConfigError, match='must match'):
    translate.translate_files(inpainting_run, str(tmp_path / 'a.png'), str(tmp_path / 'o.png'),
                              mask_path=str(tmp_path / 'small.png'))
  with pytest.raises(config_lib.ConfigError, match='--mask is for inpainting runs'):
    translate.translate_files(pix2pix_runs[1], str(tmp_path / 'a.png'), str(tmp_path / 'o.png'),
                              mask_path=str(tmp_path / 'a.png'))
  (tmp_path / 'masks').mkdir()
  with pytest.raises(config_lib.ConfigError, match=r"no mask for \['a'"):
    translate.translate_files(inpainting_run, str(tmp_path), str(tmp_path / 'out'),
                              mask_path=str(tmp_path / 'masks'))
  assert not (tmp_path / 'o.png').exists() and not (tmp_path / 'out').exists()


@pytest.mark.parametrize('overrides, message', [
    ({'data.pairing': 'unpaired'}, 'aligned'),
    ({'data.image_size': 24}, 'multiple of 32'),
    ({'objective.reconstruction_weight': 0.0, 'objective.adversarial_weight': 0.0},
     'nothing to train'),
    ({'objective.pixel_loss': 'l3'}, 'pixel_loss'),
    ({'model.generator': 'context_encoder'}, 'generator'),
    ({'model.norm': 'group'}, 'norm')])
def test_bad_pix2pix_configs_are_refused(overrides, message):
  with pytest.raises(config_lib.ConfigError, match=message):
    families.make(tiny_config('pix2pix.py', **overrides))


def test_bad_inpainting_configs_are_refused():
  with pytest.raises(config_lib.ConfigError, match="degradation.name='mask'"):
    families.make(tiny_config('inpaint.py', **{'data.degradation.name': 'edges'}))
  with pytest.raises(config_lib.ConfigError, match='mask.kind'):
    data.open_source(tiny_config('inpaint.py', **{'data.degradation.mask.kind': 'blob'}).data,
                     'test')
  family = families.make(tiny_config('inpaint.py', 'digits'))
  with pytest.raises(ValueError, match='at most 32x32'):  # smaller ones: padded as in training
    family.check_image_size(40, 32)
  family.check_image_size(28, 28)
  unpadded = families.make(tiny_config('inpaint.py', 'digits', **{'data.pad': False}))
  with pytest.raises(ValueError, match='32x32 images only'):
    unpadded.check_image_size(28, 28)


@pytest.mark.slow
def test_aligned_tfds_features_train_pix2pix():
  """Any tensorflow-datasets set with two corresponding image features (here div2k's lr -> hr,
  both fitted to 32x32) is a pix2pix task: data.other names the input feature."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  records = [{'hr': rng.integers(0, 256, (48, 40, 3), np.uint8),
              'lr': rng.integers(0, 256, (12, 10, 3), np.uint8)} for _ in range(6)]
  fields = {'data.name': 'div2k', 'data.image_feature': 'hr', 'data.resize': True,
            'data.image_size': 32, 'data.channels': 3, 'data.other.name': 'div2k',
            'data.other.image_feature': 'lr', 'data.other.resize': True,
            'data.other.image_size': 32, 'data.other.channels': 3, 'model.depth': 5}
  config = tiny_config('pix2pix.py', 'mri', **fields)
  with tfds.testing.mock_data(as_data_source_fn=lambda *a, **k: records):
    batch = data.open_source(config.data, 'train').get(np.arange(2))
    for key, feature in (('target', 'hr'), ('input', 'lr')):
      np.testing.assert_array_equal(batch[key], np.stack(
          [data._fit_image(r[feature], 32, True) for r in records[:2]]))  # pylint: disable=protected-access
    state, history, _ = run_compiled_steps(config, 1)
  assert int(state.step) == 1 and np.isfinite(history[0]['generator_loss'])
