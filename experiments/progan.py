"""Progressive growing against the same networks trained at full size, at equal wall-clock time.

  python experiments/progan.py [--seeds=0,1,2] [--steps_per_phase=300] [--num_samples=1000]
      [--workdir=/tmp/progan_experiment] [--ablations=no_optimizer_reset,no_fade_in,...]

Per seed: (1) configs/progan.py, progressive (4 -> 8 -> 16 -> 32, `steps_per_phase` G updates
per resolution), evaluated by the trainer at every phase end; (2) the baseline
(`--config.progan.progressive=False`: the final networks and loss at 32x32 from the first step)
for as many updates as fit in the progressive run's training time. Training time is the
`python -m jaxgan.main` command's wall clock minus its evaluations (results.json 'seconds'),
start-up and compilation included in both arms. The baseline's cost per update and fixed cost
come from two short timing runs (the difference of a long and a short one).

Protocol: FID and KID of `num_samples` samples of the EMA generator (fixed latents) against the
whole training split (mnist_5k: 4,500 digits padded to 32x32), Inception-v3 pool3 features
after clean-fid resizing to 299 (the GAN zoo's protocol); samples at a lower phase are the
generator's output at that resolution, nearest-upsampled to 32x32. Mean +- population std over
seeds. --ablations adds progressive runs of the first seed with one of the paper's switches
off. Results in experiments/results/progan.{json,md} and progan_grids.png, rewritten after
every finished run, so a killed sweep keeps what it finished and a rerun skips it.
"""
import argparse
import functools
import os
import subprocess
import sys
import time

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from experiments import common  # pylint: disable=g-import-not-at-top
from jaxgan.evaluation import results as results_lib  # pylint: disable=g-import-not-at-top

RESULTS = os.path.join(common.REPO, 'experiments', 'results')
RESOLUTIONS = (4, 8, 16, 32)
# Progressive runs with one of the paper's switches changed (--ablations, first seed only).
ABLATIONS = {
    'no_optimizer_reset': ['--config.progan.reset_optimizer=False'],
    'no_fade_in': ['--config.progan.fade_fraction=0'],
    'no_minibatch_stddev': ['--config.model.minibatch_stddev=False'],
    'no_equalized_lr': ['--config.model.equalized_lr=False'],
    'no_pixel_norm': ['--config.model.pixel_norm=False'],
}


def _flags(args, seed: int, extra: list[str]) -> list[str]:
  return [f'--config.seed={seed}', f'--config.progan.steps_per_phase={args.steps_per_phase}',
          f'--config.eval.sample_quality.num_samples={args.num_samples}',
          '--config.train.log_every=100', *extra]


def _evaluation_seconds(workdir: str) -> float:
  return sum(e.get('seconds', 0.0) for e in results_lib.read_results(workdir).values())


def _timed(command: list[str]) -> float:
  print('$', ' '.join(command), flush=True)
  start = time.perf_counter()
  subprocess.run(command, check=True)
  return time.perf_counter() - start


def baseline_cost(args, results: dict, path: str) -> dict:
  """Seconds per update and fixed seconds (start-up, compile) of the baseline's command, from
  a short and a long run without evaluation."""
  if 'baseline_cost' in results:
    return results['baseline_cost']
  seconds = {}
  for steps in (args.timing_steps // 5, args.timing_steps):
    workdir = os.path.join(args.workdir, f'timing_{steps}')
    subprocess.run(['rm', '-rf', workdir], check=True)
    seconds[steps] = _timed([
        sys.executable, '-m', 'jaxgan.main', f'--config={common.REPO}/configs/progan.py',
        f'--workdir={workdir}', *_flags(args, 0, [
            '--config.progan.progressive=False', f'--config.train.num_steps={steps}',
            '--config.eval.every_steps=0', '--config.train.sample_every=100000'])])
  short, long = sorted(seconds)
  per_step = (seconds[long] - seconds[short]) / (long - short)
  results['baseline_cost'] = {'seconds_per_step': per_step,
                              'fixed_seconds': seconds[short] - short * per_step,
                              'runs': {str(k): v for k, v in seconds.items()}}
  common.save_results(results, path)
  return results['baseline_cost']


def run_seed(seed: int, args, results: dict, path: str) -> None:
  name = f'progressive_seed{seed}'
  workdir = common.train_run(name, 'progan.py', _flags(args, seed, []), args.workdir, results,
                             path)
  entry = results['train'][name]
  entry['train_seconds'] = entry['seconds'] - _evaluation_seconds(workdir)
  entry['eval'] = {str(k): {'metrics': v['metrics'], 'phase': v.get('phase')}
                   for k, v in results_lib.read_results(workdir).items()}
  common.save_results(results, path)

  cost = baseline_cost(args, results, path)
  steps = max(int((entry['train_seconds'] - cost['fixed_seconds']) / cost['seconds_per_step']),
              1)
  name = f'baseline_seed{seed}'
  workdir = common.train_run(name, 'progan.py', _flags(args, seed, [
      '--config.progan.progressive=False', f'--config.train.num_steps={steps}',
      f'--config.eval.every_steps={steps}', f'--config.train.sample_every={steps}']),
      args.workdir, results, path)
  entry = results['train'][name]
  entry['steps'] = steps
  entry['train_seconds'] = entry['seconds'] - _evaluation_seconds(workdir)
  entry['eval'] = {str(k): {'metrics': v['metrics']}
                   for k, v in results_lib.read_results(workdir).items()}
  common.save_results(results, path)


def run_ablation(name: str, seed: int, args, results: dict, path: str) -> None:
  run = f'ablation_{name}_seed{seed}'
  workdir = common.train_run(run, 'progan.py', _flags(args, seed, ABLATIONS[name]),
                             args.workdir, results, path)
  results['train'][run]['eval'] = {str(k): {'metrics': v['metrics'], 'phase': v.get('phase')}
                                   for k, v in results_lib.read_results(workdir).items()}
  common.save_results(results, path)


def _final(entry: dict) -> dict:
  return entry['eval'][max(entry['eval'], key=int)]['metrics']


def table(results: dict, args) -> str:
  train = results.get('train', {})
  lines = [f'Protocol: FID / KID x 1e3 of {args.num_samples} EMA-generator samples vs the '
           f'mnist_5k training split (clean-fid resize to 299), mean ± std over seeds.', '',
           '| run | seeds | G updates | training minutes | FID | KID x 1e3 |',
           '| --- | --- | --- | --- | --- | --- |']
  for arm in ('progressive', 'baseline'):
    entries = [e for n, e in sorted(train.items()) if n.startswith(arm) and 'eval' in e]
    if not entries:
      continue
    steps = ([len(RESOLUTIONS) * args.steps_per_phase] if arm == 'progressive'
             else sorted({e['steps'] for e in entries}))
    lines.append(
        f'| {arm} | {len(entries)} | {", ".join(map(str, steps))} | '
        f'{common.mean_std([e["train_seconds"] / 60 for e in entries])} | '
        f'{common.mean_std([_final(e)["fid"] for e in entries])} | '
        f'{common.mean_std([1e3 * _final(e)["kid_mean"] for e in entries])} |')
  progressive = [e for n, e in sorted(train.items()) if n.startswith('progressive') and 'eval' in e]
  if progressive:
    lines += ['', 'The progressive runs at every phase end:', '',
              '| phase end (step) | resolution | FID | KID x 1e3 |', '| --- | --- | --- | --- |']
    for index, resolution in enumerate(RESOLUTIONS):
      step = str((index + 1) * args.steps_per_phase)
      values = [e['eval'][step]['metrics'] for e in progressive if step in e['eval']]
      if values:
        lines.append(f'| {step} | {resolution}x{resolution} | '
                     f'{common.mean_std([v["fid"] for v in values])} | '
                     f'{common.mean_std([1e3 * v["kid_mean"] for v in values])} |')
  ablations = [(n, e) for n, e in sorted(train.items()) if n.startswith('ablation') and 'eval' in e]
  if ablations:
    lines += ['', 'Ablations (one seed each; FID at every phase end, 4x4 .. 32x32):', '',
              '| run | FID per phase end | final KID x 1e3 |', '| --- | --- | --- |']
    for name, entry in ablations:
      fids = ' / '.join(f'{entry["eval"][k]["metrics"]["fid"]:.1f}'
                        for k in sorted(entry['eval'], key=int))
      lines.append(f'| {name} | {fids} | {1e3 * _final(entry)["kid_mean"]:.1f} |')
  return '\n'.join(lines) + '\n'


def grids(args, seed: int = 0) -> None:
  """Seed `seed`'s sample grids at every phase end, then the baseline's final grid, in a row."""
  samples = os.path.join(args.workdir, f'progressive_seed{seed}', 'samples')
  paths = [os.path.join(samples, f'step_{(k + 1) * args.steps_per_phase:07d}.png')
           for k in range(len(RESOLUTIONS))]
  baseline = os.path.join(args.workdir, f'baseline_seed{seed}', 'samples')
  if os.path.isdir(baseline):
    paths.append(os.path.join(baseline, sorted(os.listdir(baseline))[-1]))
  images = [np.asarray(Image.open(p).convert('L')) for p in paths if os.path.exists(p)]
  if not images:
    return
  gap = np.full((images[0].shape[0], 8), 255, np.uint8)
  row = np.concatenate([x for image in images for x in (image, gap)][:-1], axis=1)
  Image.fromarray(row).save(os.path.join(RESULTS, 'progan_grids.png'))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--seeds', default='0,1,2')
  parser.add_argument('--steps_per_phase', type=int, default=300)
  parser.add_argument('--num_samples', type=int, default=1000)
  parser.add_argument('--timing_steps', type=int, default=200)
  parser.add_argument('--ablations', default='',
                      help='Comma-separated progressive ablations on the first seed: '
                      f'{", ".join(ABLATIONS)}.')
  parser.add_argument('--workdir', default='/tmp/progan_experiment')
  args = parser.parse_args()
  os.makedirs(RESULTS, exist_ok=True)
  path = os.path.join(RESULTS, 'progan.json')
  results = common.load_results(path)
  budget = {'steps_per_phase': args.steps_per_phase, 'num_samples': args.num_samples}
  if results.get('budget', budget) != budget:
    parser.error(f'{path} holds runs of another budget {results["budget"]}; move it away.')
  results['budget'] = budget
  seeds = [int(s) for s in args.seeds.split(',')]
  ablations = [a for a in args.ablations.split(',') if a]
  unknown = sorted(set(ablations) - set(ABLATIONS))
  if unknown:
    parser.error(f'Unknown --ablations {unknown}; choose from {sorted(ABLATIONS)}.')
  runs = ([functools.partial(run_seed, seed) for seed in seeds]
          + [functools.partial(run_ablation, name, seeds[0]) for name in ablations])
  for run in runs:
    run(args, results, path)
    with open(os.path.join(RESULTS, 'progan.md'), 'w') as f:
      f.write(table(results, args))
    grids(args)
  print(table(results, args))


if __name__ == '__main__':
  main()
