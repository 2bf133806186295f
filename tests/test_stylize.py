"""Gatys et al.'s optimization (jaxgan/style/optimization.py, jaxgan.stylize): L-BFGS with the zoom
line search never raises the objective, plain L-BFGS, Adam and the noise start lower it, colour
preservation keeps the content's chroma, the command line writes the image, curves and iterates, and
bad inputs are refused in one line before anything is written."""
import json
import os

import numpy as np
import pytest

from conftest import run_in_process
from conftest import run_module
from jaxgan import config_lib
from jaxgan.data import image_sets
from jaxgan.data import images as image_lib
from jaxgan.pretrained import vgg16
from jaxgan.style import objective as style_transfer
from jaxgan.style import optimization as style_optimization


# A strong style weight, so that a few iterations move the image far from the content.
OBJECTIVE = style_transfer.DEFAULT._replace(style_weight=1e4)


@pytest.fixture(scope='module')
def images():
  content = style_transfer.resize_longer_side(image_sets.photo('chelsea', 3), 40)
  style = style_transfer.resize_longer_side(image_sets.photo('hubble_deep_field', 3), 32)
  return vgg16.load_params(), content, style


def test_lbfgs_with_a_line_search_never_raises_the_objective_and_logs_every_iterate(images):
  vgg, content, style = images
  result = style_optimization.optimize(vgg, content, style, OBJECTIVE, 6,
                                       optimizer='lbfgs_zoom', log_every=3, quiet=True)
  total = result.curves['total']
  assert len(total) == 7 and len(result.curves['line_search_steps']) == 6
  assert result.curves['logged_steps'] == [0, 3, 6]
  assert all(b <= a * (1 + 1e-6) for a, b in zip(total, total[1:])), total
  assert total[-1] < 0.5 * total[0]
  assert min(result.curves['line_search_steps']) >= 1
  assert result.image.shape == content.shape and result.image.dtype == np.uint8
  # The logged total is the weighted sum of the logged terms.
  terms = {k: result.curves[k][-1] for k in style_transfer.TERMS}
  np.testing.assert_allclose(total[-1], float(OBJECTIVE.total(terms)), rtol=1e-5)


@pytest.mark.parametrize('optimizer, init', [('lbfgs', 'content'), ('adam', 'content'),
                                             ('lbfgs', 'noise')])
def test_lbfgs_adam_and_the_noise_start_lower_the_objective(images, optimizer, init):
  vgg, content, style = images
  result = style_optimization.optimize(vgg, content, style, OBJECTIVE, 8,
                                       optimizer=optimizer, init=init, learning_rate=0.05,
                                       log_every=8, quiet=True)
  total = result.curves['total']
  assert total[-1] < 0.7 * total[0], total
  assert set(result.curves['line_search_steps']) == {0}
  if init == 'noise':
    assert result.curves['content_loss'][0] > 0  # the first iterate is not the content image


def test_colour_preservation_keeps_the_contents_chroma(images):
  vgg, content, style = images
  chroma = lambda image: style_transfer.rgb_to_yiq(np.asarray(image, np.float32) / 127.5 - 1)[
      ..., 1:]
  errors = {}
  for preserve in (False, True):
    result = style_optimization.optimize(vgg, content, style, OBJECTIVE, 4,
                                         preserve_color=preserve, log_every=4, quiet=True)
    errors[preserve] = float(np.mean(np.abs(chroma(result.image) - chroma(content))))
  assert errors[True] < 0.001 < 0.005 < errors[False], errors


@pytest.mark.slow
def test_command_line_writes_the_image_curves_and_iterates(tmp_path):
  content = tmp_path / 'content.png'
  image_lib.save_png(image_sets.photo('coffee', 3), str(content))
  out = tmp_path / 'out' / 'styled.png'
  os.makedirs(out.parent)
  result = run_module('jaxgan.stylize', f'--content={content}', '--style=gravel',
                      f'--output={out}', '--size=48', '--steps=4', '--save_every=2',
                      '--log_every=2', '--optimizer=adam')
  assert result.returncode == 0, result.stderr[-2000:]
  assert 'MiB of temporary memory' in result.stdout and 'step     2' in result.stdout
  written = image_lib.read_image(str(out))
  assert written.shape == (32, 48, 3)  # coffee is 400x600: longer side 48
  curves = json.load(open(tmp_path / 'out' / 'styled.json'))
  assert curves['optimizer'] == 'adam' and len(curves['curves']['total']) == 5
  assert sorted(os.listdir(out.parent)) == ['styled.json', 'styled.png', 'styled_00002.png',
                                            'styled_00004.png']


@pytest.mark.parametrize('change, message', [
    ({'content_path': 'missing.png'}, 'is not a file'),
    ({'output_path': 'out.jpg'}, 'must be a .png file'),
    ({'style': 'no_such_style'}, 'neither an image file nor a bundled photograph'),
    ({'size': 8}, r'content image is 8x\d+: .*--size'),
    ({'steps': 0}, '--steps must be >= 1'),
    ({'optimizer': 'sgd'}, "--optimizer='sgd'"),
    ({'objective': style_transfer.DEFAULT._replace(style_layers=('relu7_1',))},
     'style_layers must name VGG16 layers'),
])
def test_bad_inputs_are_refused_before_anything_is_written(tmp_path, change, message):
  image_lib.save_png(np.zeros((32, 32, 3), np.uint8), str(tmp_path / 'content.png'))
  arguments = {'content_path': str(tmp_path / 'content.png'), 'style': 'brick',
               'output_path': str(tmp_path / 'out.png'), 'size': 32, 'steps': 1}
  arguments.update({k: str(tmp_path / v) if k.endswith('_path') else v
                    for k, v in change.items()})
  with pytest.raises(config_lib.ConfigError, match=message):
    style_optimization.stylize_file(**arguments)
  assert os.listdir(tmp_path) == ['content.png']


def test_an_unreadable_content_file_is_refused_on_the_command_line(tmp_path, capsys):
  (tmp_path / 'content.png').write_bytes(b'not an image')
  code = run_in_process('jaxgan.stylize', f'--content={tmp_path / "content.png"}',
                        '--style=brick', f'--output={tmp_path / "out.png"}', '--steps=1')
  assert code == 1
  assert capsys.readouterr().err.strip().splitlines()[-1].startswith(
      'FATAL Cannot read 1 of 1 images')
  assert os.listdir(tmp_path) == ['content.png']
