"""config.eval's layout: clear errors before any compute, the held-out pass on any dict batch,
and the best checkpoint following best_metric / best_mode."""
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from configs import blocks
from conftest import shrunk_config, tiny_dcgan_config
from jaxgan import config_lib
from jaxgan import evaluation
from jaxgan.evaluation import heldout
from jaxgan.evaluation import periodic
from jaxgan.evaluation import results as results_lib
from jaxgan.training import mesh as mesh_lib
from jaxgan.training import trainer as train

TINY_PIXELCNN = {'model.features': 4, 'model.num_layers': 2, 'model.first_kernel_size': 3,
                 'model.output_hidden': 8, 'train.batch_size': 8, 'train.num_steps': 4,
                 'train.log_every': 2, 'train.checkpoint_every': 2, 'train.sample_every': 4,
                 'train.num_sample_images': 4, 'eval.every_steps': 2,
                 'eval.heldout.batch_size': 100}


def _with_block(config, name, **fields):
  with config.eval.unlocked():
    config.eval[name] = ml_collections.ConfigDict(fields)
  return config


@pytest.mark.parametrize('make_config,match', [
    (lambda: tiny_dcgan_config(eval__sample_quality__type='fid'),
     r"Unknown config.eval.sample_quality.type 'fid'; choose one of \['heldout', 'inception'\]"),
    (lambda: tiny_dcgan_config(eval__best_metric='bits_per_dim'),
     r"config.eval.best_metric='bits_per_dim' is not produced by any evaluator of config.eval; "
     r"they produce \['fid', 'kid_mean', 'kid_std', 'precision', 'recall'\]"),
    (lambda: tiny_dcgan_config(eval__sample_quality__metrics=('kid',)),
     r"best_metric='fid' is not produced"),
    (lambda: tiny_dcgan_config(eval__best_mode='lowest'),
     r"config.eval.best_mode must be one of \('min', 'max'\), got 'lowest'"),
    (lambda: _with_block(tiny_dcgan_config(), 'likelihood', type='heldout', batch_size=8,
                         split='test'),
     r"config.family='gan' has no 'eval_metrics' capability, which config.eval.likelihood "
     r"\(type 'heldout'\) needs"),
    (lambda: _with_block(shrunk_config('pixelcnn.py', TINY_PIXELCNN), 'heldout_train',
                         type='heldout', batch_size=100, split='train'),
     r"config.eval.heldout and config.eval.heldout_train both produce 'bits_per_dim'"),
])
def test_bad_eval_config_fails_before_compute(tmp_path, make_config, match):
  with pytest.raises(config_lib.ConfigError, match=match):
    train.train_and_evaluate(make_config(), str(tmp_path / 'w'))
  assert not os.path.exists(tmp_path / 'w')


class PairedFamily:
  """A family whose held-out metric is the per-example mean squared difference of a paired
  {'input', 'target'} batch (as an image-to-image family's would be), shifted by the state."""
  capabilities = frozenset({'eval_metrics'})
  config = ml_collections.ConfigDict({'family': 'paired', 'data': {'image_size': 3},
                                      'train': {'num_steps': 1, 'batch_size': 4}})

  def init(self, rng, batch):
    del rng, batch
    return {'offset': jnp.float32(0.5)}

  def example_batch(self, phase):
    del phase
    return {'input': jax.ShapeDtypeStruct((4, 3, 3, 1), np.uint8),
            'target': jax.ShapeDtypeStruct((4, 3, 3, 1), np.uint8)}

  def eval_metrics(self, state, batch, rng):
    del rng
    difference = batch['input'].astype(jnp.float32) - batch['target'].astype(jnp.float32)
    return {'mse': jnp.mean(difference ** 2, axis=(1, 2, 3)) + state['offset']}

  def eval_protocol(self):
    return {'metric': 'mean squared difference'}


class PairedSource:
  def __init__(self, inputs, targets):
    self.inputs, self.targets = inputs, targets

  def __len__(self):
    return len(self.inputs)

  def get(self, indices):
    return {'input': self.inputs[indices], 'target': self.targets[indices]}


def test_heldout_pass_averages_every_paired_example_once_on_one_and_four_devices(monkeypatch):
  rng = np.random.default_rng(0)
  inputs, targets = (rng.integers(0, 256, (10, 3, 3, 1), dtype=np.uint8) for _ in range(2))
  monkeypatch.setattr(heldout.data, 'open_source', lambda *a: PairedSource(inputs, targets))
  family = PairedFamily()
  block = ml_collections.ConfigDict({'type': 'heldout', 'batch_size': 4, 'split': 'valid'})
  config = ml_collections.ConfigDict({'seed': 0, 'data': {'name': 'pairs'}})
  assert heldout.HeldOutEvaluator.check('paired', block, config, family) == ('mse',)
  expected = np.mean((inputs.astype(np.float64) - targets) ** 2) + 0.5  # 10 = 4 + 4 + 2
  for devices in (jax.devices()[:1], jax.devices()):
    mesh = mesh_lib.make_mesh(devices)
    evaluator = heldout.HeldOutEvaluator('paired', block, config, family, mesh)
    results = evaluator(mesh_lib.replicate(family.init(None, None), mesh), 0)
    np.testing.assert_allclose(results['mse'], expected, rtol=1e-6)
  assert evaluator.protocol()['count'] == 10
  assert evaluator.protocol()['metric'] == 'mean squared difference'


# The held-out pass over the first 192 test digits (2 batches), not all 500.
SHORT_TEST = {'eval__heldout__split': 'test[:192]'}


@pytest.mark.parametrize('mode', ['min', 'max'])
def test_best_checkpoint_follows_best_metric_and_mode(tmp_path, mode):
  config = shrunk_config('pixelcnn.py', TINY_PIXELCNN, eval__best_mode=mode, **SHORT_TEST)
  train.train_and_evaluate(config, str(tmp_path))
  entries = results_lib.read_results(str(tmp_path))
  assert sorted(entries) == [2, 4]
  values = {step: entry['metrics']['bits_per_dim'] for step, entry in entries.items()}
  assert values[2] != values[4]
  best = (min if mode == 'min' else max)(values, key=values.get)
  assert os.listdir(tmp_path / 'checkpoints_best') == [str(best)]
  assert entries[4]['protocol']['heldout']['type'] == 'heldout'
  assert entries[4]['protocol']['heldout']['split'] == 'test[:192]'


def test_the_best_checkpoint_is_chosen_on_validation_images_and_results_say_so(tmp_path):
  config = shrunk_config('pixelcnn.py', TINY_PIXELCNN, eval__best_metric='validation_nll_nats',
                          **SHORT_TEST)
  with config.eval.unlocked():  # 100 training digits held back (split slicing)
    config.eval.validation = blocks.heldout('train[4400:]', 100, prefix='validation_')
  config.data.train_split = 'train[:4400]'
  train.train_and_evaluate(config, str(tmp_path))
  entries = results_lib.read_results(str(tmp_path))
  values = {step: entry['metrics']['validation_nll_nats'] for step, entry in entries.items()}
  assert os.listdir(tmp_path / 'checkpoints_best') == [str(min(values, key=values.get))]
  assert {'bits_per_dim', 'validation_bits_per_dim'} <= set(entries[4]['metrics'])
  assert entries[4]['protocol']['validation']['split'] == 'train[4400:]'
  assert entries[4]['protocol']['validation']['count'] == 100
  assert entries[4]['protocol']['heldout']['split'] == 'test[:192]'
  assert entries[2]['selected_on'] == entries[4]['selected_on'] == {
      'metric': 'validation_nll_nats', 'mode': 'min', 'evaluator': 'validation',
      'split': 'train[4400:]'}


def test_no_best_metric_keeps_no_best_checkpoint(tmp_path):
  config = shrunk_config('pixelcnn.py', TINY_PIXELCNN, eval__best_metric='', **SHORT_TEST)
  assert evaluation.check_config(config, train.families.make(config)) == {
      'heldout': ('bits_per_dim', 'nll_nats')}
  train.train_and_evaluate(config, str(tmp_path))
  assert sorted(results_lib.read_results(str(tmp_path))) == [2, 4]
  assert not os.path.exists(tmp_path / 'checkpoints_best')


def test_periodic_evaluation_writes_nothing_until_it_runs(tmp_path):
  """The trainer builds it before its checks are over; a refused run leaves no trace."""
  config = shrunk_config('pixelcnn.py', TINY_PIXELCNN)
  periodic.PeriodicEvaluation(config, train.families.make(config), str(tmp_path / 'w'), None,
                              mesh_lib.make_mesh()).close()
  assert not os.path.exists(tmp_path / 'w')
