"""Trains every zoo config on mnist_5k for the same budget and tabulates FID (mean ± std).

  python -m experiments.gan_zoo [--configs=dcgan,wgan,...] [--seeds=0,1,2] [--num_steps=200]
      [--width_divisor=4] [--num_samples=1000] [--compute_dtype=float32] [--workdir=/tmp/gan_zoo]

Budget, the same for every config: `num_steps` generator updates (each with the config's own
n_critic D updates on batch_size / n_critic real images each), every width of G and D divided by
`width_divisor` (to fit a CPU), all other hyperparameters as in the config files (no per-config
tuning). FID: config.eval.sample_quality's protocol (jaxgan/evaluation: Inception pool3, clean
resizing, reference = mnist_5k train split) on `num_samples` samples of the EMA generator after
the last step. A run whose loss becomes NaN/Inf is reported as diverged. Writes per-run results
and the Markdown table to experiments/results/<tag>.{json,md} and the seed-0 sample grids to
experiments/results/<tag>/<config>.png. Runs append: several invocations (e.g. one per config, to
keep each command short) with the same --tag merge into one table.
"""
import argparse
import json
import os
import shutil
import statistics
import sys
import time

import ml_collections

from jaxgan import config_lib
from jaxgan.evaluation import results as results_lib
from jaxgan import platform
from jaxgan.training import trainer as train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = ('gan_mlp', 'dcgan', 'wgan', 'wgan_gp', 'lsgan', 'sngan', 'hinge_resnet', 'cgan',
           'acgan', 'sagan')
RESULTS = os.path.join(REPO, 'experiments', 'results')


def budget_config(name: str, seed: int, args) -> ml_collections.ConfigDict:
  """configs/<name>.py on mnist_5k with the sweep's budget applied."""
  config = config_lib.load_config(os.path.join(REPO, 'configs', f'{name}.py'))
  config.seed = seed
  model = config.model
  model.compute_dtype = args.compute_dtype
  model.generator_widths = tuple(max(w // args.width_divisor, 1) for w in model.generator_widths)
  model.discriminator_widths = tuple(max(w // args.width_divisor, 1)
                                     for w in model.discriminator_widths)
  train_config = config.train
  train_config.num_steps = args.num_steps
  train_config.log_every = max(args.num_steps // 5, 1)
  train_config.checkpoint_every = train_config.sample_every = args.num_steps
  config.eval.every_steps = args.num_steps
  config.eval.sample_quality.metrics = ('fid',)
  config.eval.sample_quality.num_samples = args.num_samples
  return config


def run(name: str, seed: int, args) -> dict:
  workdir = os.path.join(args.workdir, f'{args.tag}_{name}_seed{seed}')
  shutil.rmtree(workdir, ignore_errors=True)
  config = budget_config(name, seed, args)
  start = time.perf_counter()
  try:
    train.train_and_evaluate(config, workdir)
  except train.NonFiniteLossError as e:
    return {'config': name, 'seed': seed, 'status': 'diverged', 'error': str(e),
            'seconds': time.perf_counter() - start}
  entry = results_lib.read_results(workdir)[args.num_steps]
  if seed == 0:
    os.makedirs(os.path.join(RESULTS, args.tag), exist_ok=True)
    shutil.copy(os.path.join(workdir, 'samples', f'step_{args.num_steps:07d}.png'),
                os.path.join(RESULTS, args.tag, f'{name}.png'))
  return {'config': name, 'seed': seed, 'status': 'ok', 'fid': entry['metrics']['fid'],
          'seconds': time.perf_counter() - start, 'protocol': entry['protocol'],
          'batch_size': config.train.batch_size, 'n_critic': config.gan.n_critic}


def table(runs: list[dict], args) -> str:
  lines = [f'FID on mnist_5k, {args.num_steps} G steps, widths / {args.width_divisor}, '
           f'{args.compute_dtype}, {args.num_samples} samples.', '',
           '| config | FID (mean ± std over seeds) | FID per seed | runs ok | '
           'D updates x real images per G step | wall s / run (compile + train + FID) |',
           '|---|---|---|---|---|---|']
  for name in dict.fromkeys(r['config'] for r in runs):
    mine = [r for r in runs if r['config'] == name]
    fids = [r['fid'] for r in mine if r['status'] == 'ok']
    if len(fids) > 1:
      fid = f'{statistics.mean(fids):.1f} ± {statistics.stdev(fids):.1f}'
    else:
      fid = f'{fids[0]:.1f} (one seed)' if fids else 'diverged'
    per_seed = ', '.join(f"{r['seed']}: " + (f"{r['fid']:.1f}" if r['status'] == 'ok' else
                                             r['status']) for r in mine)
    seconds = statistics.mean(r['seconds'] for r in mine)
    ok = [r for r in mine if r['status'] == 'ok']
    reads = (f"{ok[0]['n_critic']} x {ok[0]['batch_size'] // ok[0]['n_critic']}" if ok else '-')
    lines.append(f'| {name} | {fid} | {per_seed} | {len(fids)}/{len(mine)} | {reads} | '
                 f'{seconds:.0f} |')
  return '\n'.join(lines)


def merge_previous(runs: list[dict], args) -> list[dict]:
  """This invocation's runs plus earlier ones of the same tag and budget (same config and seed:
  the new run wins); an earlier file with another budget is an error, not overwritten."""
  path = os.path.join(RESULTS, f'{args.tag}.json')
  if not os.path.exists(path):
    return runs
  with open(path) as f:
    previous = json.load(f)
  budget = ('num_steps', 'width_divisor', 'num_samples', 'compute_dtype')
  if any(previous['args'][k] != vars(args)[k] for k in budget):
    raise SystemExit(f'{path} holds runs with another budget; use another --tag.')
  done = {(r['config'], r['seed']) for r in runs}
  kept = [r for r in previous['runs'] if (r['config'], r['seed']) not in done]
  order = {name: i for i, name in enumerate(CONFIGS)}
  return sorted(kept + runs, key=lambda r: (order[r['config']], r['seed']))


def main(argv):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--configs', default=','.join(CONFIGS))
  parser.add_argument('--seeds', default='0,1,2')
  parser.add_argument('--num_steps', type=int, default=200)
  parser.add_argument('--width_divisor', type=int, default=4)
  parser.add_argument('--num_samples', type=int, default=1000)
  parser.add_argument('--compute_dtype', default='float32', choices=('float32', 'bfloat16'))
  parser.add_argument('--tag', default='gan_zoo', help='name of the results files')
  parser.add_argument('--workdir', default='/tmp/gan_zoo')
  args = parser.parse_args(argv)
  unknown = set(args.configs.split(',')) - set(CONFIGS)
  if unknown:
    raise SystemExit(f'Unknown config(s) {sorted(unknown)}; choose from {CONFIGS}.')
  platform.use_default_xla_flags()  # as the command-line tools do
  for name in args.configs.split(','):
    for seed in (int(s) for s in args.seeds.split(',')):
      result = run(name, seed, args)
      print(json.dumps({k: v for k, v in result.items() if k != 'protocol'}), flush=True)
      report = write_results([result], args)  # after every run: a killed sweep keeps its runs
  print(report)


def write_results(runs: list[dict], args) -> str:
  """Merges `runs` into experiments/results/<tag>.{json,md}; returns the Markdown table."""
  os.makedirs(RESULTS, exist_ok=True)
  runs = merge_previous(runs, args)
  report = table(runs, args)
  with open(os.path.join(RESULTS, f'{args.tag}.json'), 'w') as f:
    json.dump({'args': vars(args), 'runs': runs}, f, indent=2)
  with open(os.path.join(RESULTS, f'{args.tag}.md'), 'w') as f:
    f.write(report + '\n')
  return report


if __name__ == '__main__':
  main(sys.argv[1:])
