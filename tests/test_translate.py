"""jaxgan.translate end to end (in-process main with its flags) on runs of a minimal 2x family
(tests/translate_family.py), its input conversions, its one-line errors that write nothing, and
runs.interpolate_states against a hand computation."""
import os
import re

from absl import flags
import jax
import numpy as np
import pytest
from PIL import Image

import translate_family
from conftest import run_module, shrunk_config, tiny_dcgan_config
from jaxgan import config_lib
from jaxgan.data import image_files
from jaxgan.data import images as image_lib
from jaxgan import families
from jaxgan.inference import runs
from jaxgan.training.state import NetworkState
from jaxgan.training.state import TrainState
from jaxgan import translate
from test_super_resolution import PSNR_RUN, tiny_sr_config


@pytest.fixture(scope='module', autouse=True)
def translate_test_family():
  with pytest.MonkeyPatch.context() as patch:
    patch.setitem(families.FAMILIES, 'translate_test', translate_family.TranslateTestFamily)
    yield


def _run(tmp_path_factory, name, **config_args):
  """(workdir, config, state on the host) of a run written for the module."""
  workdir = str(tmp_path_factory.mktemp(name))
  config = translate_family.get_config(**config_args)
  return workdir, config, translate_family.write_run(workdir, config)


@pytest.fixture(scope='module')
def rgb_run(tmp_path_factory):
  return _run(tmp_path_factory, 'rgb', channels=3, seed=0)


@pytest.fixture(scope='module')
def other_rgb_run(tmp_path_factory):
  return _run(tmp_path_factory, 'rgb_other', channels=3, seed=1)


@pytest.fixture(scope='module')
def gray_run(tmp_path_factory):
  return _run(tmp_path_factory, 'gray', channels=1, seed=0)


@pytest.fixture(scope='module', autouse=True)
def translate_flags():
  """jaxgan.translate's flags, defined as its command line defines them, for this module only."""
  defined = set(flags.FLAGS)
  translate.define_flags()
  yield
  for name in set(flags.FLAGS) - defined:
    delattr(flags.FLAGS, name)


def _cli(*args: str) -> int:
  """translate.main with command-line `args`, in this process; its exit code."""
  flags.FLAGS.unparse_flags()
  flags.FLAGS(['translate', *args])
  try:
    translate.main(['translate'])
  except SystemExit as e:
    return e.code
  finally:
    flags.FLAGS.unparse_flags()
  return 0


def _expected(run, image: np.ndarray, ema_params=None) -> np.ndarray:
  """uint8 output of the run's family on the model-ready uint8 `image`, untiled."""
  _, config, state = run
  if ema_params is not None:
    state = state.replace(networks={'model': state.model.replace(ema_params=ema_params)})
  family = translate_family.TranslateTestFamily(config)
  return image_lib.to_uint8(np.asarray(family.translate(state, image[None]))[0])


def _png(path) -> np.ndarray:
  return np.asarray(Image.open(path))


def _random(shape, seed=0) -> np.ndarray:
  return np.random.default_rng(seed).integers(0, 256, shape, np.uint8)


def test_folder_of_two_sizes_incl_grayscale_gives_2x_pngs(rgb_run, tmp_path, capsys):
  source, target = tmp_path / 'in', tmp_path / 'out'
  source.mkdir()
  colour, gray = _random((9, 13, 3)), _random((7, 10), seed=1)
  Image.fromarray(colour).save(source / 'a.png')
  Image.fromarray(gray).save(source / 'b.bmp')
  (source / 'notes.txt').write_text('not an image')
  assert _cli(f'--workdir={rgb_run[0]}', f'--input={source}', f'--output={target}') == 0
  assert sorted(os.listdir(target)) == ['a.png', 'b.png']
  a, b = _png(target / 'a.png'), _png(target / 'b.png')
  assert a.shape == (18, 26, 3) and b.shape == (14, 20, 3)
  np.testing.assert_array_equal(a, _expected(rgb_run, colour))
  np.testing.assert_array_equal(b, _expected(rgb_run, np.repeat(gray[..., None], 3, -1)))
  lines = capsys.readouterr().out.splitlines()
  assert lines[:2] == ['a.png: 13x9 -> 26x18', 'b.bmp: 10x7 -> 20x14']
  assert lines[2].startswith('Translated 2 images') and len(lines) == 3


def test_tiled_output_equals_untiled_output(rgb_run, tmp_path):
  image = tmp_path / 'big.png'
  Image.fromarray(_random((37, 53, 3))).save(image)
  for tile, name in ((0, 'untiled.png'), (12, 'tiled.png')):
    assert _cli(f'--workdir={rgb_run[0]}', f'--input={image}', f'--output={tmp_path / name}',
                f'--tile={tile}', f'--tile_overlap={translate_family.RADIUS}') == 0
  untiled, tiled = _png(tmp_path / 'untiled.png'), _png(tmp_path / 'tiled.png')
  assert untiled.shape == (74, 106, 3)
  # Float sums in another order may round an output level the other way, rarely.
  difference = np.abs(untiled.astype(int) - tiled)
  assert difference.max() <= 1 and (difference > 0).mean() < 1e-3


@pytest.mark.parametrize('config_file, overrides, tileable', [
    ('srresnet.py', {}, True), ('pix2pix.py', {}, False),
    ('pix2pix.py', {'model.norm': 'batch'}, True), ('cyclegan.py', {}, False),
    ('discogan.py', {}, True), ('fast_style.py', {}, False)])
def test_instance_norm_networks_are_not_tiled(config_file, overrides, tileable):
  """Instance norm normalizes by the whole image: translate must not tile such a network."""
  assert families.make(shrunk_config(config_file, overrides)).tileable == tileable


def test_one_file_to_a_png_path_or_into_a_folder(rgb_run, tmp_path):
  image = _random((5, 6, 3))
  Image.fromarray(image).save(tmp_path / 'photo.jpeg', quality=100)
  read = np.asarray(Image.open(tmp_path / 'photo.jpeg'))
  (tmp_path / 'folder').mkdir()
  for output in ('x2.png', 'folder', 'new' + os.sep):  # 'new/': a folder to create
    assert _cli(f'--workdir={rgb_run[0]}', f'--input={tmp_path / "photo.jpeg"}',
                f'--output={os.path.join(tmp_path, output)}') == 0
  for written in ('x2.png', 'folder/photo.png', 'new/photo.png'):
    np.testing.assert_array_equal(_png(tmp_path / written), _expected(rgb_run, read))
  assert os.listdir(tmp_path / 'folder') == ['photo.png']


def test_one_channel_model_reads_colour_as_luma(gray_run, tmp_path):
  colour = _random((6, 8, 3))
  Image.fromarray(colour).save(tmp_path / 'c.png')
  luma = image_files.read_image(str(tmp_path / 'c.png'), 1)
  assert luma.shape == (6, 8, 1)
  hand = colour.astype(float) @ np.array([0.299, 0.587, 0.114])
  assert np.abs(luma[..., 0] - hand).max() <= 0.51
  assert _cli(f'--workdir={gray_run[0]}', f'--input={tmp_path / "c.png"}',
              f'--output={tmp_path / "out.png"}') == 0
  written = _png(tmp_path / 'out.png')
  assert written.shape == (12, 16)
  np.testing.assert_array_equal(written[..., None], _expected(gray_run, luma))


def test_alpha_is_dropped_palette_resolved_exif_applied_32_bit_refused(tmp_path):
  rgba = _random((4, 5, 4))
  Image.fromarray(rgba).save(tmp_path / 'rgba.png')
  np.testing.assert_array_equal(image_files.read_image(str(tmp_path / 'rgba.png'), 3),
                                rgba[..., :3])
  palette = Image.fromarray(_random((4, 5, 3))).quantize(8)
  palette.save(tmp_path / 'p.png')
  np.testing.assert_array_equal(image_files.read_image(str(tmp_path / 'p.png'), 3),
                                np.asarray(palette.convert('RGB')))
  upright = _random((2, 3, 3))
  exif = Image.Exif()
  exif[0x0112] = 6  # orientation: stored rotated, shown after a 90 degree clockwise turn
  Image.fromarray(upright).save(tmp_path / 'turned.png', exif=exif)
  np.testing.assert_array_equal(image_files.read_image(str(tmp_path / 'turned.png'), 3),
                                np.rot90(upright, k=-1))
  Image.fromarray(np.zeros((4, 5), np.float32)).save(tmp_path / 'deep.tif')
  with pytest.raises(image_files.ImageFileError, match=r'deep\.tif .*32-bit'):
    image_files.check_images([str(tmp_path / 'rgba.png'), str(tmp_path / 'deep.tif')], 3)


def test_cli_interpolates_the_ema_weights(rgb_run, other_rgb_run, tmp_path):
  image = _random((6, 7, 3))
  Image.fromarray(image).save(tmp_path / 'i.png')
  assert _cli(f'--workdir={rgb_run[0]}', f'--interpolate_with={other_rgb_run[0]}',
              '--alpha=0.25', f'--input={tmp_path / "i.png"}',
              f'--output={tmp_path / "o.png"}') == 0
  mixed = jax.tree.map(lambda gan, psnr: 0.25 * gan + 0.75 * psnr, rgb_run[2].model.ema_params,
                       other_rgb_run[2].model.ema_params)
  expected = _expected(rgb_run, image, ema_params=mixed)
  assert not np.array_equal(expected, _expected(rgb_run, image))
  np.testing.assert_array_equal(_png(tmp_path / 'o.png'), expected)


def _network(params, ema_params, opt_state=()):
  return NetworkState(step=np.int32(0), params=params, opt_state=opt_state, collections={},
                      ema_params=ema_params)


def test_interpolate_states_mixes_shared_networks_by_hand():
  psnr = TrainState.create({'generator': _network({'w': np.array([1.0, 2.0])},
                                                  {'w': np.array([3.0, 5.0])})})
  gan = TrainState.create({
      'generator': _network({'w': np.array([5.0, 6.0])}, {'w': np.array([7.0, 1.0])}, 'g'),
      'discriminator': _network({'v': np.array([9.0])}, {})})
  mixed = runs.interpolate_states(psnr, gan, 0.25)
  np.testing.assert_allclose(mixed.generator.params['w'], [2.0, 3.0])  # .75*[1,2] + .25*[5,6]
  np.testing.assert_allclose(mixed.generator.ema_params['w'], [4.0, 4.0])
  assert mixed.generator.opt_state == 'g' and mixed.discriminator is gan.discriminator
  other_shape = TrainState.create({'generator': _network({'w': np.zeros(3)},
                                                         {'w': np.zeros(2)})})
  with pytest.raises(config_lib.ConfigError, match=r"generator\.params\['w'\] is \(3,\) in one "
                                                   r'and \(2,\) in the other'):
    runs.interpolate_states(other_shape, gan, 0.5)
  without_ema = TrainState.create({'generator': _network({'w': np.zeros(2)}, {})})
  with pytest.raises(config_lib.ConfigError, match=r"ema_params\['w'\] is absent in one"):
    runs.interpolate_states(without_ema, gan, 0.5)
  with pytest.raises(config_lib.ConfigError, match='no network in common'):
    runs.interpolate_states(TrainState.create({'model': psnr.generator}), gan, 0.5)


@pytest.fixture
def scene(tmp_path):
  """Paths for the error cases: a folder of one image, an output folder already holding a file,
  an empty folder and a run of a family that cannot translate."""
  (tmp_path / 'in').mkdir()
  Image.fromarray(_random((4, 4, 3))).save(tmp_path / 'in' / 'a.png')
  (tmp_path / 'out').mkdir()
  (tmp_path / 'out' / 'keep.png').write_bytes(b'kept')
  (tmp_path / 'empty').mkdir()
  (tmp_path / 'empty' / 'notes.txt').write_text('no images')
  (tmp_path / 'bad').mkdir()
  Image.fromarray(_random((4, 4, 3))).save(tmp_path / 'bad' / 'good.png')
  (tmp_path / 'bad' / 'broken.png').write_bytes(b'not a png')
  (tmp_path / 'dcgan').mkdir()
  config_lib.write_config_json(tiny_dcgan_config(), str(tmp_path / 'dcgan' / 'config.json'))
  return tmp_path


def _tree(root) -> dict:
  return {os.path.join(d, f): open(os.path.join(d, f), 'rb').read()
          for d, _, files in os.walk(root) for f in files}


ERRORS = {  # name: (flags beyond the defaults, exit code, message)
    'missing input': ({'input': '{tmp}/nope'}, 2, 'does not exist'),
    'no images': ({'input': '{tmp}/empty'}, 2, 'holds no image files'),
    'unreadable image': ({'input': '{tmp}/bad'}, 1, r'Cannot read 1 of 2 images: \S*broken.png'),
    'not a run': ({'workdir': '{tmp}/empty'}, 1, 'config.json does not exist'),
    'no translate': ({'workdir': '{tmp}/dcgan'}, 2, "no 'translate' capability"),
    'output is a file': ({'output': '{tmp}/out/keep.png'}, 2, 'is a file'),
    'output over input': ({'input': '{tmp}/in/a.png', 'output': '{tmp}/in/a.png'}, 2,
                          'would overwrite the input'),
    'alpha outside': ({'alpha': '1.5', 'interpolate_with': '{run}'}, 2, r'outside \[0, 1\]'),
    'alpha alone': ({'alpha': '0.5'}, 2, 'go together'),
    'tile too small': ({'tile': '4', 'tile_overlap': '2'}, 2, 'larger than twice'),
    'other model': ({'alpha': '0.5', 'interpolate_with': '{gray}'}, 2, 'Cannot interpolate'),
    'missing step': ({'step': '7'}, 1, r'No checkpoint of step 7 .* steps kept are \[1\]'),
}


@pytest.mark.parametrize('name', ERRORS)
def test_errors_are_one_line_and_write_nothing(name, scene, rgb_run, gray_run, capsys):
  changes, code, message = ERRORS[name]
  values = {'workdir': rgb_run[0], 'input': '{tmp}/in', 'output': '{tmp}/out', **changes}
  args = [f'--{k}={v.format(tmp=scene, run=rgb_run[0], gray=gray_run[0])}'
          for k, v in values.items()]
  before = _tree(scene)
  capsys.readouterr()
  assert _cli(*args) == code
  out, err = capsys.readouterr()
  assert not out and len(err.splitlines()) == 1 and err.startswith('FATAL '), err
  assert re.search(message, err), err
  assert not re.search(r'(?<!\.)\.\.(\s|$)', err), err  # a sentence ends once ('..' did)
  assert _tree(scene) == before


@pytest.mark.slow
def test_cli_on_a_trained_srresnet_run(tmp_path, trained_run):
  """The real `python -m jaxgan.translate` on configs/srresnet.py: x4, grayscale repeated to
  RGB, tiled (overlap 12 > the shrunk SRResNet's receptive field radius of about 10 LR pixels)
  as the family's untiled translate. (This barely trained net hardly feels distant pixels:
  the exactness of tiling is tested in test_tiling.py.)"""
  workdir = trained_run(tiny_sr_config(**PSNR_RUN))
  source = tmp_path / 'in'
  source.mkdir()
  colour, gray = _random((37, 53, 3)), _random((9, 11), seed=1)
  Image.fromarray(colour).save(source / 'colour.png')
  Image.fromarray(gray).save(source / 'gray.png')
  result = run_module('jaxgan.translate', f'--workdir={workdir}', f'--input={source}',
                      f'--output={tmp_path / "out"}', '--tile=30', '--tile_overlap=12')
  assert result.returncode == 0, result.stderr[-2000:]
  assert 'colour.png: 53x37 -> 212x148' in result.stdout
  _, family, state = runs.load_run(workdir)
  for name, image in (('colour', colour), ('gray', np.repeat(gray[..., None], 3, -1))):
    expected = image_lib.to_uint8(np.asarray(jax.jit(family.translate)(state, image[None]))[0])
    written = _png(tmp_path / 'out' / f'{name}.png')
    assert written.shape == (4 * image.shape[0], 4 * image.shape[1], 3)
    assert np.abs(written.astype(int) - expected).max() <= 1
