"""Evaluators end to end: determinism over devices, reference caching, the Inception Score
against an independent computation, the trainer's periodic evaluation with the best-FID
checkpoint, and the eval / fid command lines (with their progress lines)."""
import json
import os

import jax
import numpy as np
import pytest
from PIL import Image
from scipy import special
from scipy import stats

from conftest import DCGAN_CONFIG, run_in_process, run_module, tiny_dcgan_config
from jaxgan import config_lib
from jaxgan.data import sources as data
from jaxgan import evaluation
from jaxgan.evaluation import metrics
from jaxgan.evaluation import results as results_lib
from jaxgan.evaluation import sample_quality
from jaxgan import families
from jaxgan import fid as fid_cli
from jaxgan.inference import runs
from jaxgan.training import checkpoints
from jaxgan.training import mesh as mesh_lib

# A tiny evaluation: 8 samples against the first 8 training digits.
TINY_EVAL = {f'eval__sample_quality__{k}': v for k, v in dict(
    num_samples=8, batch_size=8, reference_count=8, kid_subsets=2, kid_subset_size=4,
    precision_recall_k=2, inception_score_splits=2).items()}


@pytest.fixture(scope='module', autouse=True)
def private_cache(tmp_path_factory):
  """Reference statistics and converted weights in a fresh cache (also for subprocesses)."""
  previous = os.environ.get('XDG_CACHE_HOME')
  os.environ['XDG_CACHE_HOME'] = str(tmp_path_factory.mktemp('cache'))
  yield
  if previous is None:
    del os.environ['XDG_CACHE_HOME']
  else:
    os.environ['XDG_CACHE_HOME'] = previous


@pytest.fixture(scope='module')
def digits():
  return data.load_mnist_5k('test').images[:8]


def _fid_of_halves(features):
  return metrics.frechet_distance(metrics.feature_statistics(features[:4]),
                                  metrics.feature_statistics(features[4:]))


def test_same_images_same_fid_across_runs_and_device_counts(digits):
  four = sample_quality.InceptionFeatures(mesh_lib.make_mesh(jax.devices()[:4]), 8)
  one = sample_quality.InceptionFeatures(mesh_lib.make_mesh(jax.devices()[:1]), 8)
  first, again, single = four(digits), four(digits), one(digits)
  np.testing.assert_array_equal(first, again)
  fid = _fid_of_halves(first)
  assert fid > 0
  np.testing.assert_allclose(_fid_of_halves(single), fid, rtol=1e-6)


def _inception_score_by_entropies(logits, num_splits):
  """exp(H(mean_x p(y|x)) - mean_x H(p(y|x))) per split (= exp E_x KL(p(y|x) || p(y)))."""
  scores = []
  for part in np.array_split(special.softmax(logits, axis=1), num_splits):
    scores.append(np.exp(stats.entropy(part.mean(axis=0)) - stats.entropy(part, axis=1).mean()))
  return np.mean(scores), np.std(scores)


def test_evaluator_metrics_protocol_and_cached_reference(tmp_path, monkeypatch):
  import torch  # pylint: disable=g-import-not-at-top
  head = tmp_path / 'pt_inception.pth'
  weight = torch.randn(1008, 2048, generator=torch.Generator().manual_seed(0)) * 0.1
  torch.save({'fc.weight': weight}, head)
  config = tiny_dcgan_config(**TINY_EVAL, eval__sample_quality__inception_logits_weights=str(head),
                             eval__sample_quality__metrics=('fid', 'kid', 'precision_recall',
                                                            'inception_score'))
  family = families.make(config)
  mesh = mesh_lib.make_mesh()
  state = families.init_state(family, mesh)
  evaluator = evaluation.make_evaluators(config, family, mesh)['sample_quality']
  results = evaluator(state, 0)
  assert set(results) == {'fid', 'kid_mean', 'kid_std', 'precision', 'recall',
                          'inception_score_mean', 'inception_score_std'}
  assert all(np.isfinite(v) for v in results.values())
  assert results['fid'] > 0
  # The IS from the same samples' features and the saved head, by another formula.
  features = evaluator.extractor(evaluator.generated_images(state)).astype(np.float64)
  expected = _inception_score_by_entropies(features @ weight.numpy().astype(np.float64).T, 2)
  assert expected[0] > 1.01  # not the IS of 1 that uninformative logits give
  np.testing.assert_allclose((results['inception_score_mean'], results['inception_score_std']),
                             expected, rtol=1e-6)
  protocol = evaluator.protocol()
  assert protocol['weights_sha1'] == 'a16e4d89c0ecbc17a915dd76ea9e41211aa82562'
  assert protocol['reference'] == {'dataset': 'mnist_5k', 'split': 'train', 'count': 8,
                                   'image_size': 28}
  assert (protocol['resizer'], protocol['num_samples'], protocol['seed']) == ('clean', 8, 0)

  monkeypatch.setattr(sample_quality, 'load_images',
                      lambda *a: pytest.fail('reference recomputed'))
  again = evaluation.make_evaluators(config, family, mesh)['sample_quality']
  assert again(state, 0) == results  # same seed, cached reference: the same numbers

  without_head = tiny_dcgan_config(**TINY_EVAL,
                                   eval__sample_quality__metrics=('fid', 'inception_score'))
  evaluator = evaluation.make_evaluators(without_head, family, mesh)['sample_quality']
  assert 'not computed' in evaluator.inception_score_note


def test_unknown_metric_and_indivisible_batch_are_clear_errors():
  config = tiny_dcgan_config(**TINY_EVAL, eval__sample_quality__metrics=('fid', 'bits_per_dim'))
  family = families.make(config)
  with pytest.raises(config_lib.ConfigError, match=r'Unknown config.eval.sample_quality.metrics'):
    evaluation.make_evaluators(config, family, mesh_lib.make_mesh())
  config = tiny_dcgan_config(**dict(TINY_EVAL, eval__sample_quality__batch_size=6))
  with pytest.raises(config_lib.ConfigError,
                     match=r'config.eval.sample_quality.batch_size=6 is not divisible'):
    evaluation.make_evaluators(config, family, mesh_lib.make_mesh())


def _with_eval_config():
  return tiny_dcgan_config(**TINY_EVAL, eval__every_steps=5)


@pytest.fixture
def trained_with_eval(trained_run):
  """The session's tiny DCGAN run evaluated at steps 5 and 10 by the trainer."""
  return trained_run(_with_eval_config())


def test_trainer_records_results_and_keeps_best_fid_checkpoint(trained_with_eval):
  entries = results_lib.read_results(trained_with_eval)
  assert sorted(entries) == [5, 10]
  assert all(e['source'] == 'train' and e['protocol']['checkpoint_step'] == e['step']
             and e['protocol']['sample_quality']['type'] == 'inception'
             and e['protocol']['sample_quality']['num_samples'] == 8
             for e in entries.values())
  best_step = min(entries, key=lambda s: entries[s]['metrics']['fid'])
  assert os.listdir(os.path.join(trained_with_eval, 'checkpoints_best')) == [str(best_step)]
  assert sorted(os.listdir(os.path.join(trained_with_eval, 'checkpoints'))) == ['10', '5']


@pytest.mark.slow
def test_eval_cli_fills_missing_eval_block_and_merges_results(trained_run, tmp_path, capsys):
  trained_with_eval = trained_run(_with_eval_config(), copy_to=str(tmp_path / 'run'))
  config_path = os.path.join(trained_with_eval, 'config.json')
  with open(config_path) as f:
    run_config = json.load(f)
  del run_config['eval']  # as written by a trainer that predates evaluation
  with open(config_path, 'w') as f:
    json.dump(run_config, f)
  code = run_in_process('jaxgan.eval', f'--workdir={trained_with_eval}', '--step=5')
  err = capsys.readouterr().err
  assert code == 2 and 'pass --config' in err, err[-2000:]  # a config error
  run_config['eval'] = {'every_steps': 5, 'metrics': ['fid'], 'num_samples': 8}  # flat, old
  with open(config_path, 'w') as f:
    json.dump(run_config, f)
  code = run_in_process('jaxgan.eval', f'--workdir={trained_with_eval}', '--step=5')
  err = capsys.readouterr().err
  assert code == 2, err[-2000:]
  assert 'config.eval.metrics is not an evaluator block' in err
  assert '--config=configs/dcgan.py' in err

  trainer_entries = results_lib.read_results(trained_with_eval)
  results_lib.record_results(trained_with_eval, 7, {'fid': 1.0}, {}, source='elsewhere')
  flags = [f'--config.{k.replace("__", ".")}={v}' for k, v in TINY_EVAL.items()]
  result = run_module('jaxgan.eval', f'--config={DCGAN_CONFIG}', *flags,
                      f'--workdir={trained_with_eval}', '--all')
  assert result.returncode == 0, result.stderr[-2000:]
  entries = results_lib.read_results(trained_with_eval)
  assert sorted(entries) == [5, 7, 10]
  assert entries[7]['source'] == 'elsewhere'  # merged, not clobbered
  for step in (5, 10):  # the trainer evaluated the same samples with the same protocol
    assert entries[step]['source'] == 'eval'
    assert entries[step]['metrics'] == pytest.approx(trainer_entries[step]['metrics'], rel=1e-4)
  assert 'step 10: fid=' in result.stdout
  assert 'sample_quality: sampling: 8/8 images in' in result.stderr
  assert 'sample_quality: Inception features of samples: 8/8 images in' in result.stderr
  assert any(name.startswith('events.out.tfevents')
             for name in os.listdir(os.path.join(trained_with_eval, 'eval')))


@pytest.mark.slow
def test_fid_cli_on_npz_and_folder(tmp_path, digits):
  np.savez(tmp_path / 'a.npz', digits[:4])
  folder = tmp_path / 'b'
  folder.mkdir()
  for i, image in enumerate(digits[4:]):
    Image.fromarray(image[..., 0]).save(folder / f'{i}.png')
  result = run_module('jaxgan.fid', str(tmp_path / 'a.npz'), str(folder), '--batch_size=4',
                      '--kid_subsets=2')
  assert result.returncode == 0, result.stderr[-2000:]
  assert f'Inception features of {folder}: 4/4 images in' in result.stderr  # the path, in full
  fid_line = [line for line in result.stdout.splitlines() if line.startswith('FID: ')]
  extractor = sample_quality.InceptionFeatures(mesh_lib.make_mesh(), 4)
  expected = fid_cli.fid_between(digits[:4], digits[4:], extractor, kid_subsets=2)['fid']
  np.testing.assert_allclose(float(fid_line[0].split()[1]), expected, rtol=1e-5)


def test_fid_cli_inputs_are_checked(tmp_path):
  folder = tmp_path / 'mixed'
  folder.mkdir()
  Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / 'a.png')
  Image.fromarray(np.zeros((9, 8), np.uint8)).save(folder / 'b.png')
  with pytest.raises(fid_cli.ImageSetError, match='must match'):
    fid_cli.read_images(str(folder))
  np.savez(tmp_path / 'float.npz', np.zeros((4, 8, 8, 3), np.float32))
  with pytest.raises(fid_cli.ImageSetError, match='uint8'):
    fid_cli.read_images(str(tmp_path / 'float.npz'))
  with pytest.raises(fid_cli.ImageSetError, match='neither'):
    fid_cli.read_images(str(tmp_path / 'missing'))


def test_trained_run_restores_kept_steps_and_names_them_for_a_missing_one(trained_with_eval):
  run = runs.TrainedRun(trained_with_eval)
  assert run.steps() == [5, 10]
  assert int(run.restore().step) == 10 and int(run.restore(5).step) == 5
  with pytest.raises(checkpoints.CheckpointError, match=r'step 7 .* steps kept are \[5, 10\]'):
    run.restore(7)
  run.close()


def test_another_familys_config_is_a_config_error_exit_2(trained_run, capsys):
  """The README's convention: a config the run cannot use exits 2 in one line, before compute."""
  workdir = trained_run(tiny_dcgan_config())
  code = run_in_process('jaxgan.eval', f'--workdir={workdir}',
                        f'--config={os.path.join(os.path.dirname(DCGAN_CONFIG), "pixelcnn.py")}')
  fatal = [line for line in capsys.readouterr().err.splitlines() if line.startswith('FATAL')]
  assert code == 2
  assert fatal == [fatal[0]] and "has no 'eval_metrics' capability" in fatal[0], fatal
  assert not os.path.exists(os.path.join(workdir, 'eval'))
