"""The CycleGAN / DiscoGAN tables of the README: unpaired translation on two offline tasks whose
ground truth is known although training never sees a pair, trained on this machine's CPU.

  python experiments/cyclegan.py [--root=/tmp/jaxgan_cyclegan] [--out=experiments/results]
      [--seeds=0,1,2] [--digits_steps=1000] [--mri_steps=400] [--tasks=digits,mri]
      [--score_only]

Variants, the same budget (steps x the preset's batch) and networks: CycleGAN (configs/
cyclegan.py), without the identity loss (identity_weight 0), without the cycle loss
(cycle_weight 0; the identity loss kept), and DiscoGAN (configs/discogan.py). Seeds are the
outer loop, so a killed sweep has every variant of the first seeds. Checkpoints every 100 steps
are scored too (the cheap metrics), to show whether content or contrast flips early in
training; the final EMA generators fill the table.

Digits (A = scikit-learn digits in MNIST's frame, B = mnist_5k): the 500 test digits of A are
translated to B and classified by the mnist_5k digit classifier (experiments/digit_classifier.py)
against A's labels, and scored by KID against the 500 real mnist_5k test digits; B -> A outputs
are classified against B's labels. References: the identity mapping (A's digits classified as
they are) and the in-domain ceiling (the classifier on real mnist_5k test digits; KID of 500
real training digits against the test digits).

MRI (A = T1, B = grey-matter map): the 135 held-out 64x64 tiles of slices z 85-99, where T1 and
grey-matter tiles correspond, scored by PSNR / SSIM of each direction against the truth.
Baselines fitted on the training slices' voxels (jaxgan/evaluation/intensity_mappings.py): the
identity, histogram matching (unpaired, monotone) and the paired conditional mean E[B | A]
(the best voxel-wise map; an oracle that sees pairs).

Results go to OUT/cyclegan.json after every step (a killed sweep keeps what it finished; a rerun
skips it), the tables to OUT/cyclegan.md, image grids to OUT/cyclegan_*.png.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=wrong-import-position
from experiments import common
from jaxgan import config_lib
from jaxgan.data import image_sets
from jaxgan.data import images as image_lib
from jaxgan.data import sources as data
from jaxgan.evaluation import image_quality
from jaxgan.evaluation import intensity_mappings
# pylint: enable=wrong-import-position

VARIANTS = {  # name: (config file, overrides)
    'cyclegan': ('cyclegan.py', []),
    'no_identity': ('cyclegan.py', ['--config.objective.identity_weight=0']),
    'no_cycle': ('cyclegan.py', ['--config.objective.cycle_weight=0']),
    'discogan': ('discogan.py', []),
}
RUN_FLAGS = ['--config.eval.every_steps=0',  # scored here
             '--config.train.checkpoint_every=100', '--config.train.keep_checkpoints=100']
SHOWN = 10  # test examples in the grids


def translators(workdir: str, every_checkpoint: bool = False):
  """Yields (step, apply) for the latest checkpoint of a run, or for each of them:
  apply(images, direction) -> uint8 outputs of that checkpoint's EMA generator ('a2b' or
  'b2a'), in batches of 100. One family and one compiled translation serve every checkpoint."""
  import jax  # pylint: disable=g-import-not-at-top
  from jaxgan.inference import runs  # pylint: disable=g-import-not-at-top
  run = runs.TrainedRun(workdir)
  translate = jax.jit(run.family.translate_direction, static_argnums=2)
  try:
    for step in run.steps() if every_checkpoint else [None]:
      state = jax.device_put(run.restore(step), jax.devices()[0])

      def apply(images: np.ndarray, direction: str, state=state) -> np.ndarray:
        return np.concatenate([image_lib.to_uint8(translate(state, images[i:i + 100], direction))
                               for i in range(0, len(images), 100)])

      yield int(state.step), apply
  finally:
    run.close()


def translator(workdir: str):
  """(apply, step) of the run's latest checkpoint (see translators)."""
  [(step, apply)] = translators(workdir)
  return apply, step


def image_scores(outputs: np.ndarray, targets: np.ndarray) -> dict:
  return {'psnr': float(np.mean(image_quality.psnr(outputs, targets))),
          'ssim': float(np.mean(image_quality.ssim(outputs, targets)))}


def _runs(task: str, preset: str, steps: int, args, results: dict, path: str):
  """Yields (variant, seed, workdir) of every finished run of `task`, training it if needed."""
  for seed in args.seeds:
    for variant, (config, flags) in VARIANTS.items():
      name = f'{task}_{variant}_seed{seed}'
      if args.score_only and not results.get('train', {}).get(name, {}).get('finished'):
        continue
      workdir = common.train_run(name, f'{config}:{preset}', [
          f'--config.seed={seed}', f'--config.train.num_steps={steps}', *RUN_FLAGS, *flags],
          args.root, results, path)
      yield variant, seed, name, workdir


def _test_domains(preset: str) -> tuple[dict, dict]:
  config = config_lib.load_config(os.path.join(common.REPO, 'configs', f'cyclegan.py:{preset}'))
  source = data.open_source(config.data, 'test')
  return source.get(np.arange(len(source))), config


def digits(args, results: dict, path: str) -> None:
  from jaxgan.evaluation import digit_classifier  # pylint: disable=g-import-not-at-top
  test, config = _test_domains('digits')
  a, b = test['a'], test['b']
  classifier = digit_classifier.load()
  accuracy = lambda images, labels: float(digit_classifier.accuracy(classifier, images, labels))
  made = []  # the Inception features of the real digits take a minute: only when needed

  def scores(images):
    if not made:
      made.append(common.DigitScores(a['label'], b['image']))
    return made[0](images)

  table = results.setdefault('digits', {})
  if 'identity' not in table:
    train = data.open_source(config.data, 'train').b  # mnist_5k, sorted by label: subsample
    train_digits = train.images[np.random.default_rng(0).permutation(len(train))[:500]]
    table['identity'] = {**scores(a['image']), 'accuracy_b2a': accuracy(b['image'], b['label'])}
    table['ceiling'] = {'accuracy': accuracy(b['image'], b['label']),
                        'kid': scores(train_digits)['kid'],
                        'accuracy_b2a': accuracy(a['image'], a['label'])}
    common.save_results(results, path)
  shown = np.searchsorted(np.sort(a['label']), np.arange(SHOWN))  # one digit per class
  shown = np.argsort(a['label'], kind='stable')[shown]
  for variant, seed, name, workdir in _runs('digits', 'digits', args.digits_steps, args,
                                            results, path):
    if name in table:
      continue
    curve = []
    for step, apply in translators(workdir, every_checkpoint=True):
      curve.append([step, accuracy(apply(a['image'], 'a2b'), a['label'])])
    apply, step = translator(workdir)
    a2b, b2a = apply(a['image'], 'a2b'), apply(b['image'], 'b2a')
    a2b2a = apply(a2b, 'b2a')
    table[name] = {**scores(a2b), 'accuracy_b2a': accuracy(b2a, b['label']),
                   'cycle_psnr_a': float(np.mean(image_quality.psnr(a2b2a, a['image']))),
                   'curve': curve, 'step': step}
    common.save_results(results, path)
  if made:
    results['digits_protocol'] = {
        'a': 'scikit-learn load_digits test split (500, 50 per class) in MNIST\'s frame, '
             'padded to 32x32', 'b': 'mnist_5k test split (500), padded to 32x32',
        'steps': args.digits_steps, 'batch': config.train.batch_size, 'seeds': args.seeds,
        'accuracy_b2a': 'the classifier on B -> A outputs against B\'s labels (ceiling: on '
                        'real A digits)', **made[0].protocol()}
    common.save_results(results, path)
  save_grid(args, 'digits', a['image'][shown], os.path.join(args.out, 'cyclegan_digits.png'))


def mri(args, results: dict, path: str) -> None:
  test, config = _test_domains('mri')
  a, b = test['a']['image'], test['b']['image']
  table = results.setdefault('mri', {})
  if 'identity' not in table:
    t1 = image_sets.mni152_slices('train', 1)
    gm = image_sets.mni152_slices('train', 1, ('gm',))
    for row, maps in (('histogram_matching', intensity_mappings.histogram_matching),
                      ('conditional_mean_paired', intensity_mappings.conditional_mean)):
      a2b = intensity_mappings.apply(maps(t1, gm), a)
      b2a = intensity_mappings.apply(maps(gm, t1), b)
      table[row] = {f'{k}_{d}': v for d, (x, y) in (('a2b', (a2b, b)), ('b2a', (b2a, a)))
                    for k, v in image_scores(x, y).items()}
    table['identity'] = {f'{k}_{d}': v for d, (x, y) in (('a2b', (a, b)), ('b2a', (b, a)))
                         for k, v in image_scores(x, y).items()}
    common.save_results(results, path)
  middle = np.arange(len(a))[len(a) // 2 - SHOWN // 2:][:SHOWN]
  for variant, seed, name, workdir in _runs('mri', 'mri', args.mri_steps, args, results, path):
    if name in table:
      continue
    curve = []
    for step, apply in translators(workdir, every_checkpoint=True):
      curve.append([step, image_scores(apply(a, 'a2b'), b)['psnr']])
    apply, step = translator(workdir)
    a2b, b2a = apply(a, 'a2b'), apply(b, 'b2a')
    a2b2a = apply(a2b, 'b2a')
    table[name] = {**{f'{k}_a2b': v for k, v in image_scores(a2b, b).items()},
                   **{f'{k}_b2a': v for k, v in image_scores(b2a, a).items()},
                   'cycle_psnr_a': float(np.mean(image_quality.psnr(a2b2a, a))),
                   'curve': curve, 'step': step}
    common.save_results(results, path)
  results['mri_protocol'] = {
      'split': f'{len(a)} 64x64 tiles of held-out axial slices z 85-99 (MNI152 2009a, T1 and '
               'grey-matter tiles of the same voxels); trained on independent random crops of '
               'z 30-79 and 105-149', 'steps': args.mri_steps,
      'batch': config.train.batch_size, 'seeds': args.seeds,
      'psnr': 'per tile, peak 255, no border crop; mean over tiles'}
  common.save_results(results, path)
  save_grid(args, 'mri', a[middle], os.path.join(args.out, 'cyclegan_mri.png'), truth=b[middle])


def save_grid(args, task: str, inputs: np.ndarray, path: str, truth=None) -> None:
  """Rows A | A -> B | A -> B -> A of the first seed's final run of every variant (| the
  truth B, where known), `inputs` one per column."""
  rows = []
  for variant in VARIANTS:
    workdir = os.path.join(args.root, f'{task}_{variant}_seed{args.seeds[0]}')
    if os.path.isdir(workdir):
      apply, _ = translator(workdir)
      a2b = apply(inputs, 'a2b')
      rows += [inputs, a2b, apply(a2b, 'b2a')] + ([truth] if truth is not None else [])
  if rows:
    image_lib.save_png(image_lib.make_grid(np.concatenate(rows), columns=len(inputs)), path)


def _row(label: str, runs: list[dict], keys: tuple) -> str:
  cells = [common.mean_std([r[k] for r in runs]) if k in runs[0] else '' for k in keys]
  return f'| {label} | ' + ' | '.join(cells) + ' |'


def markdown(results: dict) -> str:
  lines = []
  for task, keys, header, references in (
      ('digits', ('accuracy', 'kid', 'accuracy_b2a', 'cycle_psnr_a'),
       '| model | A->B accuracy | A->B KID | B->A accuracy | cycle PSNR A (dB) |',
       (('identity', 'identity mapping'), ('ceiling', 'in-domain ceiling'))),
      ('mri', ('psnr_a2b', 'ssim_a2b', 'psnr_b2a', 'ssim_b2a', 'cycle_psnr_a'),
       '| model | T1->GM PSNR | T1->GM SSIM | GM->T1 PSNR | GM->T1 SSIM | cycle PSNR T1 |',
       (('identity', 'identity mapping'), ('histogram_matching', 'histogram matching'),
        ('conditional_mean_paired', 'conditional mean (paired oracle)')))):
    table = results.get(task, {})
    protocol = results.get(f'{task}_protocol')
    if not table or not protocol:
      continue
    lines += [f'{task}: {protocol["steps"]} steps x batch {protocol["batch"]}, seeds '
              f'{protocol["seeds"]} (mean ± std over seeds)', '', header,
              '|' + '---|' * (len(keys) + 1)]
    lines += [_row(label, [table[row]], keys) for row, label in references if row in table]
    curves = {}
    for variant in VARIANTS:
      runs = [table[f'{task}_{variant}_seed{s}'] for s in protocol['seeds']
              if f'{task}_{variant}_seed{s}' in table]
      if runs:
        lines.append(_row(f'{variant} ({len(runs)} seeds)', runs, keys))
        curves[variant] = [dict(r['curve']) for r in runs]
    lines += ['', f'{task}: {keys[0]} of the checkpoints during training (mean over seeds)', '']
    steps = sorted(set.intersection(*[set(c) for runs in curves.values() for c in runs]))
    lines += ['| model | ' + ' | '.join(str(s) for s in steps) + ' |',
              '|' + '---|' * (len(steps) + 1)]
    for variant, runs in curves.items():
      lines.append(f'| {variant} | ' + ' | '.join(
          f'{np.mean([c[s] for c in runs]):.4g}' for s in steps) + ' |')
    lines.append('')
  return '\n'.join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--root', default='/tmp/jaxgan_cyclegan', help='Where the runs train.')
  parser.add_argument('--out', default=os.path.join(common.REPO, 'experiments', 'results'))
  parser.add_argument('--seeds', default='0,1,2')
  parser.add_argument('--digits_steps', type=int, default=1000)
  parser.add_argument('--mri_steps', type=int, default=400)
  parser.add_argument('--tasks', default='digits,mri')
  parser.add_argument('--score_only', action='store_true',
                      help='Score and tabulate the finished runs; train nothing.')
  args = parser.parse_args()
  args.seeds = [int(s) for s in args.seeds.split(',')]
  os.makedirs(args.out, exist_ok=True)
  path = os.path.join(args.out, 'cyclegan.json')
  results = common.load_results(path)
  tasks = args.tasks.split(',')
  if 'digits' in tasks:
    digits(args, results, path)
  if 'mri' in tasks:
    mri(args, results, path)
  with open(os.path.join(args.out, 'cyclegan.md'), 'w') as f:
    f.write(markdown(results))
  print(markdown(results))


if __name__ == '__main__':
  main()
