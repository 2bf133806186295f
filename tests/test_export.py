"""jaxgan.export round trips: the SavedModel, loaded by TensorFlow, gives the jaxgan.inference.api
model's uint8 images for the same inputs at two batch sizes (generate, conditional generate,
translate at a size it was not trained at and the fixed-size fallback, unpaired directions,
inpainting); only the weights the network reads are saved; refusals write nothing; the CLI end to
end.

Tolerance: the SavedModel runs the StableHLO jax lowers, compiled by TensorFlow's XLA instead
of jaxlib's, which may fuse float operations differently; a pixel may then round to the next
uint8 level. At most 1 level on at most 1% of the values is allowed (measured here: identical).
"""
import json
import os

import jax
import numpy as np
import pytest

import translate_family
from conftest import run_in_process, run_module, shrunk_config, tiny_dcgan_config
from jaxgan import config_lib
from jaxgan import families
from jaxgan.inference import api
from jaxgan.inference import saved_model as export
from test_image_to_image import TINY_I2I
from test_pixelcnn import TINY_PIXELCNN
from test_unpaired import TINY_UNPAIRED
from zoo_testing import tiny_zoo_config

BATCHES = (3, 5)


@pytest.fixture(scope='module', autouse=True)
def translate_test_family_registered():
  """The test-only family of translate_family.py, registered for this module."""
  with pytest.MonkeyPatch.context() as patch:
    patch.setitem(families.FAMILIES, 'translate_test', translate_family.TranslateTestFamily)
    yield


def _saved(out_dir: str):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.saved_model.load(out_dir)


def _call(saved, signature: str, **inputs) -> np.ndarray:
  outputs = saved.signatures[signature](**inputs)
  assert list(outputs) == ['images']
  return outputs['images'].numpy()


def mismatch(expected: np.ndarray, actual: np.ndarray) -> str | None:
  """Why `actual` is not `expected` up to the stated tolerance (None if it is)."""
  if expected.shape != actual.shape or actual.dtype != np.uint8:
    return f'{actual.dtype} {actual.shape} for uint8 {expected.shape}'
  difference = np.abs(expected.astype(int) - actual.astype(int))
  if difference.max() > 1 or np.mean(difference > 0) > 0.01:
    return f'max {difference.max()} levels, {np.mean(difference > 0):.2%} of values differ'
  return None


def _export(workdir: str, out_dir: str, **load_args) -> tuple[api.Model, dict]:
  model = api.load(workdir, **load_args)
  return model, export.export_model(model, out_dir)


@pytest.fixture(scope='module')
def dcgan_export(tmp_path_factory):
  """(model, description, SavedModel folder) of an untrained tiny DCGAN run."""
  out = str(tmp_path_factory.mktemp('exports') / 'dcgan')
  workdir = translate_family.untrained_run(tmp_path_factory, 'dcgan', tiny_dcgan_config())
  return (*_export(workdir, out), out)


def test_generate_matches_the_model_at_two_batch_sizes_and_saves_only_the_ema_generator(
    dcgan_export):
  model, description, out = dcgan_export
  saved = _saved(out)
  for num in BATCHES:
    latents = model.latents(num, seed=num)
    images = _call(saved, 'serving_default', latents=latents)
    assert mismatch(model.generate(latents), images) is None

  g = model.state.generator
  wanted = jax.tree.leaves(g.ema_params) + jax.tree.leaves(g.collections)  # BN statistics
  assert description['weights'] == {
      'variables': len(wanted), 'parameters': sum(x.size for x in wanted),
      'bytes': sum(x.nbytes for x in wanted),
      'state_leaves_not_saved': len(jax.tree.leaves(model.state)) - len(wanted)}
  assert sorted(v.numpy().size for v in saved.weights) == sorted(x.size for x in wanted)
  assert description['signatures'] == {'serving_default': {
      'inputs': {'latents': {'dtype': 'float32', 'shape': ['batch', 8]}},
      'outputs': {'images': {'dtype': 'uint8', 'shape': ['batch', 28, 28, 1]}}}}
  with open(os.path.join(out, 'signatures.json')) as f:
    assert json.load(f) == {k: v for k, v in description.items() if k != 'seconds'}
  with open(os.path.join(out, 'config.json')) as f, open(
      os.path.join(model.workdir, 'config.json')) as run_config:
    assert f.read() == run_config.read()
  with open(os.path.join(out, 'eval_results.json')) as f:
    assert json.load(f) == model.info['eval_results']


@pytest.mark.slow
def test_conditional_generate_takes_labels(tmp_path, trained_run):
  workdir = trained_run(tiny_zoo_config('cgan', data__image_size=16, data__resize=True))
  model, description = _export(workdir, str(tmp_path / 'out'))
  assert description['signatures']['serving_default']['inputs']['labels'] == {
      'dtype': 'int32', 'shape': ['batch']}
  saved = _saved(str(tmp_path / 'out'))
  for num in BATCHES:
    latents, labels = model.latents(num, seed=num), np.arange(num, dtype=np.int32) % 10
    images = _call(saved, 'serving_default', latents=latents, labels=labels)
    assert mismatch(model.generate(latents, labels), images) is None
  latents = np.repeat(model.latents(1), 2, axis=0)  # the labels reach the network
  images = _call(saved, 'serving_default', latents=latents, labels=np.array([0, 1], np.int32))
  assert np.any(images[0] != images[1])


def test_translate_exports_a_symbolic_size(tmp_path_factory, tmp_path):
  model, description = _export(translate_family.untrained_run(
      tmp_path_factory, 'translate', translate_family.get_config(channels=3)), str(tmp_path))
  assert description['signatures']['serving_default'] == {
      'inputs': {'images': {'dtype': 'uint8', 'shape': ['batch', 'h', 'w', 3]}},
      'outputs': {'images': {'dtype': 'uint8', 'shape': ['batch', '2*h', '2*w', 3]}},
      'spatial': 'symbolic'}
  saved = _saved(str(tmp_path))
  rng = np.random.default_rng(0)
  for num, (height, width) in zip(BATCHES, [(4, 4), (6, 10)]):  # trained at 4x4 inputs
    images = rng.integers(0, 256, (num, height, width, 3), np.uint8)
    assert mismatch(model.translate(images), _call(saved, 'serving_default', images=images)) is None


@pytest.mark.slow
def test_unpaired_runs_export_both_directions_at_the_training_size(tmp_path_factory, tmp_path):
  config = shrunk_config('cyclegan.py', TINY_UNPAIRED)
  model, description = _export(translate_family.untrained_run(tmp_path_factory, 'cyclegan',
                                                              config),
                               str(tmp_path / 'out'))
  assert sorted(description['signatures']) == ['translate_a2b', 'translate_b2a']
  assert description['serving_default'] == 'translate_a2b'
  # Its generator checks that sides are multiples of 4 in Python: no symbolic size traces.
  entry = description['signatures']['translate_a2b']
  assert entry['inputs']['images']['shape'] == ['batch', 32, 32, 1]
  assert entry['spatial'].startswith('fixed at the training input size (symbolic h, w failed: '
                                     'ValueError: ResnetGenerator')
  saved = _saved(str(tmp_path / 'out'))
  rng = np.random.default_rng(1)
  for num in BATCHES:
    images = rng.integers(0, 256, (num, 32, 32, 1), np.uint8)
    a2b = _call(saved, 'translate_a2b', images=images)
    assert mismatch(model.translate(images, 'a2b'), a2b) is None
    assert mismatch(model.translate(images, 'b2a'), _call(saved, 'translate_b2a', images=images)
                    ) is None
    np.testing.assert_array_equal(_call(saved, 'serving_default', images=images), a2b)


@pytest.mark.slow
def test_inpaint_takes_images_and_masks(tmp_path_factory, tmp_path):
  config = shrunk_config('inpaint.py', TINY_I2I, 'digits')
  model, description = _export(translate_family.untrained_run(tmp_path_factory, 'inpaint',
                                                              config),
                               str(tmp_path / 'out'))
  assert sorted(description['signatures']['serving_default']['inputs']) == ['images', 'masks']
  saved = _saved(str(tmp_path / 'out'))
  rng = np.random.default_rng(2)
  size = config.data.image_size
  for num in BATCHES:
    images = rng.integers(0, 256, (num, size, size, config.data.channels), np.uint8)
    masks = (rng.random((num, size, size, 1)) < 0.3).astype(np.uint8)
    assert mismatch(model.inpaint(images, masks),
                    _call(saved, 'serving_default', images=images, masks=masks)) is None


def test_refusals_write_nothing(tmp_path_factory, tmp_path, dcgan_export):
  pixelcnn = translate_family.untrained_run(tmp_path_factory, 'pixelcnn',
                                            shrunk_config('pixelcnn.py', TINY_PIXELCNN))
  with pytest.raises(config_lib.ConfigError, match=r'cannot be exported.*jaxgan\.load'):
    export.export_model(api.load(pixelcnn), str(tmp_path / 'pixelcnn'))
  taken = tmp_path / 'taken'
  taken.mkdir()
  (taken / 'keep.txt').write_text('mine')
  with pytest.raises(ValueError, match='exists and is not empty'):
    export.export_model(dcgan_export[0], str(taken))
  assert sorted(os.listdir(tmp_path)) == ['taken'] and os.listdir(taken) == ['keep.txt']


@pytest.mark.slow  # the command line twice
def test_trained_run_from_the_command_line(tmp_path, trained_run, capsys):
  workdir, out = trained_run(tiny_dcgan_config()), str(tmp_path / 'out')  # steps 5 and 10
  result = run_module('jaxgan.export', f'--workdir={workdir}', f'--out={out}')
  assert result.returncode == 0, result.stderr[-2000:]
  assert f'Wrote {out}' in result.stdout
  assert not [line for line in result.stderr.splitlines()  # TensorFlow's start-up is quiet
              if 'oneDNN' in line or 'libtpu' in line or 'InitializeLog' in line]
  saved, model = _saved(out), api.load(workdir)
  for num in BATCHES:
    latents = model.latents(num, seed=num)
    assert mismatch(model.generate(latents),
                    _call(saved, 'serving_default', latents=latents)) is None
  # The comparison can fail: step 5's weights give other images than the export of step 10.
  latents = model.latents(5)
  assert mismatch(api.load(workdir, step=5).generate(latents),
                  _call(saved, 'serving_default', latents=latents))

  capsys.readouterr()
  assert run_in_process('jaxgan.export', f'--workdir={workdir}', f'--out={out}') == 2
  assert [line for line in capsys.readouterr().err.splitlines() if line.startswith('FATAL')] == [
      f'FATAL {out} exists and is not empty; pass a new --out (an export is never written over '
      'another).']
