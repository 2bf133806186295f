"""SRResNet pruned by jaxgan.prune and fine-tuned, beside the original trained on for the same
steps: PSNR-Y on the held-out photographs' evaluation tiles, parameters and MACs per image.

  python experiments/prune_srresnet.py [--steps=1000] [--fine_tune=500] [--keeps=0.5,0.25]

Trains configs/srresnet.py for --steps (the original), prunes its last checkpoint at each keep
(--criterion=l1), scores each pruned run at once (jaxgan.eval, no training), fine-tunes each for
--fine_tune steps from its config.py, and trains a copy of the original for the same steps.
Every run keeps the config's schedule over its num_steps (cosine over steps + fine_tune for the
continued runs) and its periodic evaluation (`config.eval`: held-out test tiles and validation
photographs), whose results.json entries give the table. Results go to
OUT/prune_srresnet.json after every step (a rerun skips what is finished) and
OUT/prune_srresnet.md.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from experiments import common  # pylint: disable=g-import-not-at-top,wrong-import-position


def _run(results: dict, path: str, key: str, command: list[str]) -> None:
  """Runs `command` (python -m ...) once, timing it under results['seconds'][key]."""
  if key in results.setdefault('seconds', {}):
    return
  print('$', ' '.join(command), flush=True)
  start = time.perf_counter()
  subprocess.run([sys.executable, '-m', *command], check=True, cwd=REPO)
  results['seconds'][key] = time.perf_counter() - start
  common.save_results(results, path)


def _metrics(workdir: str, step: int) -> dict:
  with open(os.path.join(workdir, 'eval', 'results.json')) as f:
    return json.load(f)[str(step)]['metrics']


def _cost(workdir: str) -> dict:
  from jaxgan.inference import api  # pylint: disable=g-import-not-at-top
  return api.load(workdir).info['cost']


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
  parser.add_argument('--steps', type=int, default=1000)
  parser.add_argument('--fine_tune', type=int, default=500)
  parser.add_argument('--keeps', default='0.5,0.25')
  parser.add_argument('--root', default='/tmp/jaxgan_prune_srresnet')
  parser.add_argument('--out', default=os.path.join(REPO, 'experiments', 'results'))
  args = parser.parse_args()
  path = os.path.join(args.out, 'prune_srresnet.json')
  results = common.load_results(path)
  total = args.steps + args.fine_tune

  original = common.train_run('original', 'srresnet.py',
                              [f'--config.train.num_steps={args.steps}'], args.root, results, path)
  continued = os.path.join(args.root, 'original_continued')
  if not os.path.exists(continued):
    shutil.copytree(original, continued)
  _run(results, path, 'original_continued',
       ['jaxgan.main', f'--config={REPO}/configs/srresnet.py', f'--workdir={continued}',
        f'--config.train.num_steps={total}'])
  rows = [('original', continued, None)]
  for keep in (float(k) for k in args.keeps.split(',')):
    pruned = os.path.join(args.root, f'pruned_{keep:g}')
    _run(results, path, f'prune_{keep:g}', ['jaxgan.prune', f'--workdir={original}',
                                            f'--out={pruned}', f'--keep={keep}'])
    _run(results, path, f'eval_{keep:g}', ['jaxgan.eval', f'--workdir={pruned}'])
    results.setdefault('pruned_metrics', {})[f'{keep:g}'] = _metrics(pruned, args.steps)
    _run(results, path, f'fine_tune_{keep:g}', [
        'jaxgan.main', f'--config={pruned}/config.py', f'--workdir={pruned}',
        f'--config.train.num_steps={total}'])
    rows.append((f'pruned, keep {keep:g}', pruned, keep))

  lines = [f'| run | parameters | MACs per image | PSNR-Y at step {args.steps} (dB) | '
           f'PSNR-Y at step {total} (dB) | validation PSNR-Y at step {total} (dB) |',
           '|---|---:|---:|---:|---:|---:|']
  for name, workdir, keep in rows:
    found = _cost(workdir)
    before = (_metrics(original, args.steps) if keep is None
              else results['pruned_metrics'][f'{keep:g}'])
    after = _metrics(workdir, total)
    cells = [f'{before["psnr_y"]:.2f}', f'{after["psnr_y"]:.2f}',
             f'{after["validation_psnr_y"]:.2f}']
    lines.append(f'| {name} | {found["parameters"]:,} | {found["macs_per_image"] / 1e6:.1f} M | '
                 + ' | '.join(cells) + ' |')
  results['table'] = lines
  common.save_results(results, path)
  with open(os.path.join(args.out, 'prune_srresnet.md'), 'w') as f:
    f.write('\n'.join(lines) + '\n')
  print('\n'.join(lines))


if __name__ == '__main__':
  main()
