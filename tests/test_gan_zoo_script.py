"""experiments/gan_zoo.py's bookkeeping: the table shows diverged runs; merges keep budgets apart."""
import argparse
import json

import pytest

from experiments import gan_zoo


def _args(tmp_path, **overrides):
  args = dict(configs='dcgan,wgan', seeds='0,1', num_steps=10, width_divisor=4, num_samples=100,
              compute_dtype='float32', tag='t', workdir=str(tmp_path))
  args.update(overrides)
  return argparse.Namespace(**args)


def _run(config, seed, fid=None):
  if fid is None:
    return {'config': config, 'seed': seed, 'status': 'diverged', 'seconds': 1.0}
  return {'config': config, 'seed': seed, 'status': 'ok', 'fid': fid, 'seconds': 3.0,
          'n_critic': 5, 'batch_size': 320}


def test_table_reports_mean_std_per_seed_and_divergence(tmp_path):
  runs = [_run('dcgan', 0, 10.0), _run('dcgan', 1, 14.0), _run('wgan', 0), _run('wgan', 1, 7.0)]
  rows = gan_zoo.table(runs, _args(tmp_path)).splitlines()
  assert rows[0].startswith('FID on mnist_5k, 10 G steps, widths / 4, float32, 100 samples.')
  dcgan, wgan = rows[-2], rows[-1]
  assert '| 12.0 ± 2.8 |' in dcgan and '0: 10.0, 1: 14.0' in dcgan and '| 2/2 |' in dcgan
  assert '| 5 x 64 |' in dcgan
  assert '7.0 (one seed)' in wgan and '0: diverged, 1: 7.0' in wgan and '| 1/2 |' in wgan


def test_results_merge_by_config_and_seed_and_refuse_another_budget(tmp_path, monkeypatch):
  monkeypatch.setattr(gan_zoo, 'RESULTS', str(tmp_path))
  gan_zoo.write_results([_run('wgan', 0, 5.0), _run('dcgan', 0, 9.0)], _args(tmp_path))
  gan_zoo.write_results([_run('dcgan', 0, 8.0), _run('dcgan', 1, 6.0)], _args(tmp_path))
  with open(tmp_path / 't.json') as f:
    runs = json.load(f)['runs']
  assert [(r['config'], r['seed'], r['fid']) for r in runs] == [
      ('dcgan', 0, 8.0), ('dcgan', 1, 6.0), ('wgan', 0, 5.0)]  # config order of CONFIGS
  with pytest.raises(SystemExit, match='another budget'):
    gan_zoo.write_results([_run('dcgan', 2, 1.0)], _args(tmp_path, num_steps=20))
  with open(tmp_path / 't.json') as f:
    assert len(json.load(f)['runs']) == 3  # the refused call wrote nothing
