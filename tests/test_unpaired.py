"""CycleGAN / DiscoGAN (jaxgan/families/unpaired.py): the objective against its formula, the
pools' routing, bitwise resume of four networks and two pools, the unpaired data (independent
training crops, corresponding held-out tiles, scikit-learn digits in MNIST's frame), tfds
cycle_gan splits, and bad configs refused in one line."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import final_state
from conftest import run_compiled_steps
from conftest import shrunk_config
from conftest import straight_and_resumed
from jaxgan import config_lib
from jaxgan.data import image_sets
from jaxgan.data import images as image_lib
from jaxgan.data import sources as data
from jaxgan import families
from jaxgan.training import mesh as mesh_lib

# The shrink applied to cyclegan.py and discogan.py in tests: tiny widths, a few steps.
TINY_UNPAIRED = {
    'model.features': 4,
    'model.num_blocks': 1,
    'model.d_features': 4,
    'data.crops_per_image': 4,
    'gan.pool_size': 3,
    'train.batch_size': 4,
    'train.num_steps': 2,
    'train.log_every': 1,
    'train.checkpoint_every': 2,
    'train.sample_every': 2,
    'train.num_sample_images': 2,
    'eval.every_steps': 0,
}
NETWORKS = {'generator_ab', 'generator_ba', 'discriminator_a', 'discriminator_b'}


def tiny_config(config_file: str = 'cyclegan.py', arg: str | None = None, **overrides):
  return shrunk_config(config_file, TINY_UNPAIRED, arg, **overrides)


# CycleGAN's digits preset trains in the objective and tfds tests below.
@pytest.mark.parametrize('config_file, arg', [
    ('discogan.py', None), pytest.param('cyclegan.py', 'mri', marks=pytest.mark.slow)])
def test_configs_train_shrunk(config_file, arg):
  config = tiny_config(config_file, arg, **({'gan.pool_size': 0} if config_file == 'discogan.py'
                                             else {}))
  state, history, _ = run_compiled_steps(config, 2)
  assert int(state.step) == 2 and set(state.networks) == NETWORKS
  assert all(int(network.step) == 2 for network in state.networks.values())
  assert all(np.isfinite(v) for step in history for v in step.values())
  terms = {'adversarial_loss', 'cycle_loss', 'discriminator_loss_a', 'discriminator_loss_b'}
  assert terms <= set(history[0])
  assert ('identity_loss' in history[0]) == bool(config.objective.identity_weight)
  assert set(state.extras) == ({'pool_a', 'pool_b'} if config.gan.pool_size else set())


def _abs(x, y):
  return float(np.mean(np.abs(np.asarray(x) - np.asarray(y))))


def test_generator_objective_is_its_formula_and_pools_keep_each_domains_fakes():
  """One step from a known state: the logged terms equal the CycleGAN objective computed here
  from the networks (instance norm: training and evaluation passes are the same), and pool A
  holds the generated A images G_BA(b), pool B the G_AB(a)."""
  config = tiny_config(**{'gan.pool_size': 5})
  family = families.make(config)
  source = data.open_source(config.data, 'train')
  batch = data.host_batch(source, 0, 4, config.seed)
  state = family.init(jax.random.key(0), batch)
  new_state, metrics = jax.jit(family.train_step)(state, batch, jax.random.key(1))
  real = {d: image_lib.normalize_images(batch[d]['image']) for d in 'ab'}

  @functools.partial(jax.jit, static_argnums=0)
  def apply_generator(name, variables, x):
    return family.generators[name].apply(variables, x, train=False)

  def generate(name, x):
    return apply_generator(name, state.networks[name].variables(), x)

  @jax.jit
  def apply_critic(variables, x):
    return family.critic.module.apply(variables, x, None, train=False)[0]

  def critic(domain, x):
    return apply_critic(state.networks[f'discriminator_{domain}'].variables(), x)

  fake_b, fake_a = generate('generator_ab', real['a']), generate('generator_ba', real['b'])
  cycle = (_abs(generate('generator_ba', fake_b), real['a'])
           + _abs(generate('generator_ab', fake_a), real['b']))
  identity = (_abs(generate('generator_ab', real['b']), real['b'])
              + _abs(generate('generator_ba', real['a']), real['a']))
  adversarial = sum(0.5 * float(np.mean(np.square(np.asarray(critic(d, x)) - 1.0)))
                    for d, x in (('a', fake_a), ('b', fake_b)))
  np.testing.assert_allclose(float(metrics['cycle_loss']), cycle, rtol=1e-4)
  np.testing.assert_allclose(float(metrics['identity_loss']), identity, rtol=1e-4)
  np.testing.assert_allclose(float(metrics['adversarial_loss']), adversarial, rtol=1e-4)
  np.testing.assert_allclose(float(metrics['generator_loss']),
                             2.0 * adversarial + 10.0 * cycle + 5.0 * identity, rtol=1e-4)
  for domain, fake in (('a', fake_a), ('b', fake_b)):  # the empty pool of 5 keeps all 4
    pool = new_state.extras[f'pool_{domain}']
    assert int(pool.count) == 4
    np.testing.assert_allclose(np.asarray(pool.images)[:4], np.asarray(fake), atol=1e-5)
  for name in NETWORKS:  # every network took its one optimizer step
    before, after = state.networks[name].params, new_state.networks[name].params
    assert any(not np.array_equal(x, y) for x, y in zip(jax.tree.leaves(before),
                                                        jax.tree.leaves(after))), name


def test_a_batch_norm_critic_scores_fakes_with_the_real_images():
  """DiscoGAN's D has batch norm: G's loss sees each fake normalized with the real batch, as D's
  update does, not by statistics of fakes alone (which D never trained on)."""
  config = tiny_config('discogan.py', **{'gan.pool_size': 0})
  family = families.make(config)
  batch = data.host_batch(data.open_source(config.data, 'train'), 0, 4, config.seed)
  state = family.init(jax.random.key(0), batch)
  _, metrics = jax.jit(family.train_step)(state, batch, jax.random.key(1))
  real = {d: image_lib.normalize_images(batch[d]['image']) for d in 'ab'}

  @functools.partial(jax.jit, static_argnums=0)
  def train_mode(module, variables, *args):
    return module.apply(variables, *args, train=True, mutable=['batch_stats'])[0]

  def adversarial(together):
    total = 0.0
    for domain, source, name in (('b', 'a', 'generator_ab'), ('a', 'b', 'generator_ba')):
      fake = train_mode(family.generators[name], state.networks[name].variables(), real[source])
      scored = jnp.concatenate([fake, real[domain]]) if together else fake
      logits, _ = train_mode(family.critic.module,
                             state.networks[f'discriminator_{domain}'].variables(), scored, None)
      total += float(jnp.mean(jax.nn.softplus(-logits[:4])))  # non-saturating: -log D(G)
    return total

  np.testing.assert_allclose(float(metrics['adversarial_loss']), adversarial(True), rtol=1e-4)
  assert abs(adversarial(False) - adversarial(True)) > 1e-3


@pytest.fixture(scope='module')
def cyclegan_runs(tmp_path_factory):
  """(config, straight, resumed): a tiny 3-step run checkpointed every step, and a copy of it
  without its last checkpoint, resumed from step 2 (what a kill after that save leaves)."""
  root = tmp_path_factory.mktemp('cyclegan')
  config = tiny_config(**{'train.num_steps': 3, 'train.checkpoint_every': 1,
                          'train.keep_checkpoints': 3})
  return (config, *straight_and_resumed(config, str(root)))


@pytest.mark.slow
def test_four_networks_their_optimizers_and_pools_resume_bitwise(cyclegan_runs):
  config, straight_dir, resumed_dir = cyclegan_runs
  straight, resumed = final_state(straight_dir, config), final_state(resumed_dir, config)
  assert set(straight.networks) == NETWORKS and int(straight.extras['pool_a'].count) == 3
  assert int(resumed.step) == 3
  leaves = jax.tree_util.tree_leaves_with_path(straight)
  for (path, a), b in zip(leaves, jax.tree.leaves(resumed)):
    np.testing.assert_array_equal(a, b, err_msg=jax.tree_util.keystr(path))


def test_mri_domains_train_on_independent_crops_and_correspond_when_held_out():
  config = tiny_config('cyclegan.py', 'mri')
  t1 = image_sets.mni152_slices('train', 1)
  gm = image_sets.mni152_slices('train', 1, ('gm',))
  train_source = data.open_source(config.data, 'train')
  assert train_source.b.seed != train_source.a.seed
  for i in range(5):  # the same index: A's window of T1, B's own window of grey matter
    a, b = train_source.a.crop(i), train_source.b.crop(i)
    aligned = image_sets.CropSource(gm, 64, 'random', 4).crop(i)  # gm in A's window
    assert np.array_equal(image_sets.CropSource(t1, 64, 'random', 4).crop(i), a)
    assert not np.array_equal(aligned, b)
  test = data.open_source(config.data, 'test')
  assert test.corresponding and len(test.a) == len(test.b)
  batch = test.get(np.arange(len(test)))
  slices_gm = image_sets.mni152_slices('test', 1, ('gm',))
  for index in (0, len(test) // 2, len(test) - 1):
    image, top, left = test.a.windows[index]
    np.testing.assert_array_equal(batch['b']['image'][index],
                                  slices_gm[image][top:top + 64, left:left + 64])


def test_sklearn_digits_are_drawn_in_mnist_frame():
  source = data.load_sklearn_digits('test')
  assert source.images.shape == (500, 28, 28, 1)
  assert np.array_equal(np.bincount(source.labels), np.full(10, 50))
  assert len(data.load_sklearn_digits('train')) == 1797 - 500
  rows, columns = np.indices((28, 28))
  for image in source.images[:20, ..., 0].astype(float):
    ink = np.argwhere(image > 0)
    assert len(ink) > 20 and np.ptp(ink[:, 0]) < 20 and np.ptp(ink[:, 1]) < 20
    centre = ((rows * image).sum() / image.sum(), (columns * image).sum() / image.sum())
    assert abs(centre[0] - 13.5) <= 1.0 and abs(centre[1] - 13.5) <= 1.0
  # A stroke-free 8x8 digit stays empty; a full one fills the 20x20 box with 255.
  assert not data.mnist_frame(np.zeros((8, 8))).any()
  full = data.mnist_frame(np.full((8, 8), 16.0))[..., 0]
  assert (full == 255).sum() == 400 and full[4:24, 4:24].min() == 255


def test_translate_direction_maps_each_domain_and_pads_any_size():
  """The digits preset trains on 28x28 digits padded to 32x32: an image that fits is padded so
  (centred zeros), a larger one edge-padded to the generator's multiple of 4."""
  config = tiny_config()
  family = families.make(config)
  state = families.init_state(family, mesh_lib.make_mesh())
  rng = np.random.default_rng(0)
  fits, larger = (rng.integers(0, 256, (1, *size, 1), np.uint8) for size in ((30, 26), (38, 34)))
  for direction, name in (('a2b', 'generator_ab'), ('b2a', 'generator_ba')):
    network = state.networks[name]
    for images, padded, (rows, columns) in (
        (fits, data.pad_images(fits, 32), (slice(1, 31), slice(3, 29))),
        (larger, np.pad(larger, ((0, 0), (0, 2), (0, 2), (0, 0)), mode='edge'),
         (slice(0, 38), slice(0, 34)))):
      out = np.asarray(family.translate_direction(state, jnp.asarray(images), direction))
      assert out.shape == images.shape
      expected = family.generators[name].apply(network.variables(ema=True),
                                               image_lib.normalize_images(padded), train=False)
      np.testing.assert_allclose(out, np.asarray(expected)[:, rows, columns], atol=1e-6)
  images = fits
  np.testing.assert_array_equal(family.translate(state, images),
                                family.translate_direction(state, images, 'a2b'))
  with pytest.raises(ValueError, match='direction'):
    family.translate_direction(state, images, 'a2c')


def test_tfds_cycle_gan_sets_open_each_domains_splits():
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  config = tiny_config('cyclegan.py', 'horse2zebra', **{'data.image_size': 32,
                                                        'data.other.image_size': 32,
                                                        'data.resize': True,
                                                        'data.other.resize': True})
  opened = []

  def records(builder, split, **kwargs):
    del builder, kwargs
    opened.append(split)
    value = {'trainA': 10, 'trainB': 200, 'testA': 30, 'testB': 60}[split]
    return [{'image': np.full((40, 48, 3), value, np.uint8), 'label': 0}] * 3

  with tfds.testing.mock_data(as_data_source_fn=records):
    train_source = data.open_source(config.data, 'trainA')
    test_source = data.open_source(config.data, 'testA')
  assert opened == ['trainA', 'trainB', 'testA', 'testB']
  batch = data.host_batch(train_source, 0, 4, 0)
  assert batch['b']['image'].max() == 200
  assert test_source.get(np.arange(2))['a']['image'].max() == 30
  # What the train step is compiled for (the step itself: test_configs_train_shrunk).
  family = families.make(config)
  expected = family.example_batch(families.base.phases(family)[0])
  assert jax.tree.map(lambda x: (x.shape, x.dtype), batch) == jax.tree.map(
      lambda x: (x.shape, x.dtype), expected)


@pytest.mark.parametrize('overrides, message', [
    ({'data.pairing': 'aligned'}, "pairing='unpaired'"),
    ({'data.other.image_size': 64}, 'one size'),
    ({'data.other.channels': 3}, 'identity_weight'),
    ({'objective.adversarial_weight': 0.0}, 'adversarial_weight is 0'),
    ({'objective.cycle_loss': 'l3'}, 'cycle_loss'),
    ({'objective.cycle_weight': -1.0}, 'cycle_weight must be >= 0'),
    ({'model.generator': 'unet'}, 'generator'),
    ({'model.d_norm': 'group'}, 'norm'),
    ({'data.image_size': 30, 'data.other.image_size': 30}, 'multiple of 4'),
    ({'gan.pool_size': -1}, 'pool_size')])
def test_bad_configs_are_refused(overrides, message):
  with pytest.raises(config_lib.ConfigError, match=message):
    families.make(tiny_config(**overrides))


def test_paired_test_needs_corresponding_splits():
  config = tiny_config(**{'data.paired_test': True})  # 500 vs 500 digits: sizes agree
  assert data.open_source(config.data, 'test').corresponding
  config = tiny_config(**{'data.paired_test': True, 'data.other.name': 'mnist_5k',
                          'data.name': 'mni152_t1', 'data.pad': False})
  with pytest.raises(data.DatasetError, match='cannot correspond'):
    data.open_source(config.data, 'test')


@pytest.mark.slow
def test_translate_cli_maps_files_in_either_direction(cyclegan_runs, tmp_path):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from jaxgan.inference import runs  # pylint: disable=g-import-not-at-top
  from jaxgan import translate  # pylint: disable=g-import-not-at-top
  workdir = cyclegan_runs[1]
  image = np.random.default_rng(0).integers(0, 256, (30, 26), np.uint8)
  Image.fromarray(image).save(tmp_path / 'x.png')
  _, family, state = runs.load_run(workdir)
  for direction in ('a2b', 'b2a'):
    out = tmp_path / f'{direction}.png'
    translate.translate_files(workdir, str(tmp_path / 'x.png'), str(out), direction=direction)
    expected = image_lib.to_uint8(np.asarray(family.translate_direction(
        state, image[None, ..., None], direction))[0])
    np.testing.assert_array_equal(np.asarray(Image.open(out))[..., None], expected)
  pix2pix = tmp_path / 'pix2pix'
  pix2pix.mkdir()
  config_lib.write_config_json(shrunk_config('pix2pix.py', {}), str(pix2pix / 'config.json'))
  with pytest.raises(config_lib.ConfigError, match='--direction is for unpaired translation'):
    translate.translate_files(str(pix2pix), str(tmp_path / 'x.png'), str(tmp_path / 'o.png'),
                              direction='b2a')
  assert not (tmp_path / 'o.png').exists()
