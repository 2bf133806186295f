"""jaxgan.compare_images: reading and pairing images, and the CLI against the library calls."""
import numpy as np
import pytest
from PIL import Image
import skimage.data

from conftest import run_in_process
from conftest import run_module
from jaxgan import compare_images
from jaxgan.data import images as image_lib
from jaxgan.evaluation import image_quality
from jaxgan.pretrained import lpips


def _save(path, array, **kwargs):
  Image.fromarray(array).save(path, **kwargs)
  return str(path)


@pytest.fixture(scope='module')
def folders(tmp_path_factory):
  """a/ and b/: an astronaut crop (PNG vs JPEG of it) and a gray camera crop (PNG vs a noisy
  PNG), plus a text file that is ignored."""
  root = tmp_path_factory.mktemp('images')
  (root / 'a').mkdir()
  (root / 'b').mkdir()
  astronaut = skimage.data.astronaut()[80:160, 160:256]
  camera = skimage.data.camera()[100:164, 200:264]
  noisy = np.clip(camera + np.random.default_rng(0).normal(0, 8, camera.shape), 0, 255)
  _save(root / 'a' / 'astronaut.png', astronaut)
  _save(root / 'b' / 'astronaut.jpg', astronaut, quality=30)
  _save(root / 'a' / 'camera.png', camera)
  _save(root / 'b' / 'camera.png', noisy.astype(np.uint8))
  (root / 'a' / 'notes.txt').write_text('not an image')
  return root


def _library_means(pairs, crop_border=0, y_channel=False, with_lpips=False):
  values = {'psnr': [], 'ssim': [], 'lpips': []}
  for path_a, path_b in pairs:
    a, b = (np.asarray(Image.open(p).convert('RGB'))[None] for p in (path_a, path_b))
    values['psnr'].append(image_quality.psnr(a, b, crop_border, y_channel)[0])
    values['ssim'].append(image_quality.ssim(a, b, crop_border, y_channel)[0])
    if with_lpips:
      k = crop_border
      a, b = (x[:, k:x.shape[1] - k, k:x.shape[2] - k] / 127.5 - 1 for x in (a, b))
      values['lpips'].append(lpips.distance(*lpips.load(), a, b)[0])
  return {name: float(np.mean(v)) for name, v in values.items() if v}


def _printed(stdout):
  return {line.split(':')[0]: float(line.split(':')[1]) for line in stdout.splitlines()}


def test_pairs_by_stem_ignoring_other_files(folders):
  pairs = compare_images.pair_paths(str(folders / 'a'), str(folders / 'b'))
  assert pairs == [(str(folders / 'a' / 'astronaut.png'), str(folders / 'b' / 'astronaut.jpg')),
                   (str(folders / 'a' / 'camera.png'), str(folders / 'b' / 'camera.png'))]


def test_cli_on_a_file_pair_equals_the_library(folders):
  pair = (str(folders / 'a' / 'astronaut.png'), str(folders / 'b' / 'astronaut.jpg'))
  result = run_module('jaxgan.compare_images', *pair)
  assert result.returncode == 0, result.stderr[-2000:]
  printed = _printed(result.stdout)
  expected = _library_means([pair], with_lpips=True)
  assert printed['Pairs'] == 1
  for name in ('PSNR', 'SSIM', 'LPIPS'):
    assert printed[name] == pytest.approx(expected[name.lower()], abs=2e-6)


def test_cli_on_folders_with_y_channel_and_crop_equals_the_library(folders, capsys):
  code = run_in_process('jaxgan.compare_images', str(folders / 'a'), str(folders / 'b'),
                        '--y_channel', '--crop_border=4', '--metrics=psnr,ssim')
  out, err = capsys.readouterr()
  assert code == 0, err[-2000:]
  printed = _printed(out)
  # camera.png is gray and paired with a gray image: scored as it is, as RGB repeats of it would
  # not be (their luma is 16 + 219/255 g).
  pairs = compare_images.pair_paths(str(folders / 'a'), str(folders / 'b'))
  rgb = _library_means(pairs[:1], crop_border=4, y_channel=True)
  gray = [np.asarray(Image.open(p))[None, ..., None] for p in pairs[1]]
  expected = {'psnr': (rgb['psnr'] + image_quality.psnr(*gray, 4)[0]) / 2,
              'ssim': (rgb['ssim'] + image_quality.ssim(*gray, 4)[0]) / 2}
  assert sorted(printed) == ['PSNR', 'Pairs', 'SSIM'] and printed['Pairs'] == 2
  assert printed['PSNR'] == pytest.approx(expected['psnr'], abs=2e-6)
  assert printed['SSIM'] == pytest.approx(expected['ssim'], abs=2e-6)


def test_image_modes_are_read_by_the_stated_rule(tmp_path):
  rgb = skimage.data.astronaut()[:32, :32]
  rgba = np.concatenate([rgb, np.full((32, 32, 1), 7, np.uint8)], -1)
  np.testing.assert_array_equal(image_lib.read_image(_save(tmp_path / 'a.png', rgba)), rgb)
  palette = Image.fromarray(rgb).convert('P')
  palette.save(tmp_path / 'p.png')
  np.testing.assert_array_equal(image_lib.read_image(str(tmp_path / 'p.png')),
                                np.asarray(palette.convert('RGB')))
  deep = np.array([[0, 257, 65535, 1000]], np.uint16)
  np.testing.assert_array_equal(image_lib.read_image(_save(tmp_path / 'd.png', deep)),
                                [[[0], [1], [255], [4]]])
  with pytest.raises(image_lib.ImageReadError, match='32-bit F pixels'):
    image_lib.read_image(_save(tmp_path / 'f.tif', np.zeros((4, 4), np.float32)))
  gray = skimage.data.camera()[:32, :32]
  a, b = compare_images.read_pair(_save(tmp_path / 'g.png', gray), str(tmp_path / 'a.png'))
  np.testing.assert_array_equal(a, np.repeat(gray[..., None], 3, -1))
  np.testing.assert_array_equal(b, rgb)


@pytest.mark.parametrize('case, code, message', [
    ('unpaired', 1, 'without a partner of the same file stem in the other folder: '),
    ('size', 1, 'is (64, 64) (H, W): a pair must have one size.'),
    ('missing', 2, 'does not exist; pass two image files or two folders.'),
    ('file_and_folder', 2, 'must both be image files or both folders.'),
    ('metric', 2, "Unknown --metrics ['fid']; choose from psnr,ssim,lpips."),
    ('negative_crop', 2, '--crop_border=-1 must be >= 0.'),
    ('big_crop', 2, 'ssim needs sides of at least 11; use a smaller crop.'),
])
def test_cli_errors_are_one_line(case, code, message, folders, tmp_path, capsys):
  a, b = folders / 'a', folders / 'b'
  (tmp_path / 'lonely').mkdir()
  _save(tmp_path / 'lonely' / 'astronaut.png', np.zeros((80, 96, 3), np.uint8))
  args = {'unpaired': [str(a), str(tmp_path / 'lonely')],
          'size': [str(a / 'astronaut.png'), str(b / 'camera.png')],
          'missing': [str(a), str(tmp_path / 'nothing')],
          'file_and_folder': [str(a), str(b / 'camera.png')],
          'metric': [str(a), str(b), '--metrics=psnr,fid'],
          'negative_crop': [str(a), str(b), '--crop_border=-1'],
          'big_crop': [str(a), str(b), '--crop_border=27', '--metrics=ssim']}[case]
  returncode = run_in_process('jaxgan.compare_images', *args)
  err = capsys.readouterr().err
  fatal = [line for line in err.splitlines() if line.startswith('FATAL')]
  assert returncode == code, err[-2000:]
  assert len(fatal) == 1 and 'Traceback' not in err, err[-2000:]
  assert message in fatal[0], fatal
  if case == 'unpaired':
    assert str(a / 'camera.png') in fatal[0] and 'astronaut' not in fatal[0]
