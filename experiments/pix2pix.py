"""The pix2pix tables of the README: the paper's loss ablation on edges -> digits and the tissue
maps -> T1 MRI task, trained on this machine's CPU.

  python experiments/pix2pix.py [--root=/tmp/jaxgan_pix2pix] [--out=experiments/results]
      [--seeds=0,1,2] [--digits_steps=1000] [--mri_steps=1000]

Edges -> digits (configs/pix2pix.py): L1 only (adversarial_weight 0), cGAN only
(reconstruction_weight 0) and L1 + cGAN (the paper's 100 : 1), the same budget (steps, batch
16, the config's networks), one run per seed. Each run's final EMA generator translates the
Canny edges of the 500 mnist_5k test digits; scored by L1 (on [0, 1]), PSNR and SSIM against
the digits, the accuracy of the digit classifier of experiments/digit_classifier.py on the
outputs (the paper's FCN-score analogue) and KID against the 500 real test digits. Reference
rows: the real test digits (the classifier's ceiling; KID against themselves is 0 by
construction, so the real *training* digits are scored instead) and the edge maps themselves.

MRI (configs/pix2pix.py:mri): L1 only and L1 + cGAN, the first seed. Scored on the 15 whole
held-out axial slices (z 85-99, never trained on; background included) by PSNR / SSIM / L1
against the T1 slice, translated whole and (rows *_tiles) in overlapping 64x64 tiles, the
training crops' size, whose instance-norm statistics match training. Baselines fitted on the training slices' voxels: the inputs' trivial
mapping T1 = a gm + b wm + c (least squares), and the best voxel-wise mapping, a lookup table of
the mean T1 per (gm, wm) bin (32 x 32 bins; empty bins from the linear fit): what any network
seeing one voxel at a time could do at best.

Results go to OUT/pix2pix.json after every step (a killed run keeps what it finished; a rerun
skips it), the tables to OUT/pix2pix.md, image grids to OUT/pix2pix_*.png.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=wrong-import-position
from experiments import common
from jaxgan.data import image_sets
from jaxgan.data import images as image_lib
from jaxgan.data import sources as data
from jaxgan.evaluation import image_quality
from jaxgan.inference import tiling
# pylint: enable=wrong-import-position

# variant: config overrides (the ablation of Isola et al.'s table 1)
DIGIT_VARIANTS = {
    'l1': ['--config.objective.adversarial_weight=0'],
    'cgan': ['--config.objective.reconstruction_weight=0'],
    'l1_cgan': [],
}
MRI_VARIANTS = ('l1', 'l1_cgan')
NO_PERIODIC_EVAL = ['--config.eval.every_steps=0']  # scored here, on the final checkpoint
BINS = 32
TILE_OVERLAP = 16  # MRI outputs in 64x64 tiles keep their central 32x32 (edges: more)
SHOWN = np.arange(0, 500, 50)  # one test digit of each class in the grids (sorted by label)


def image_scores(outputs: np.ndarray, targets: np.ndarray) -> dict:
  errors = np.abs(outputs.astype(np.float64) - targets.astype(np.float64)) / 255.0
  return {'l1': float(errors.mean()),
          'psnr': float(np.mean(image_quality.psnr(outputs, targets))),
          'ssim': float(np.mean(image_quality.ssim(outputs, targets)))}


def translator(workdir: str):
  """(apply, step): apply(inputs, tile=0) maps uint8 inputs [N, H, W, C] to the uint8 outputs
  of the run's final EMA generator, in batches of 100 or, with `tile`, image by image in tiles
  of that size (jaxgan/inference/tiling.py)."""
  import jax  # pylint: disable=g-import-not-at-top
  from jaxgan.inference import runs  # pylint: disable=g-import-not-at-top
  _, family, state = runs.load_run(workdir)
  state = jax.device_put(state, jax.devices()[0])
  translate = jax.jit(family.translate)

  def apply(inputs: np.ndarray, tile: int = 0) -> np.ndarray:
    if tile:  # one image at a time, in overlapping tile x tile windows
      return np.stack([image_lib.to_uint8(tiling.apply_tiled(
          lambda x: translate(state, x), image, tile, TILE_OVERLAP)) for image in inputs])
    return np.concatenate([image_lib.to_uint8(translate(state, inputs[i:i + 100]))
                           for i in range(0, len(inputs), 100)])

  return apply, int(state.step)


def digits(args, results: dict, path: str) -> None:
  config_path = os.path.join(common.REPO, 'configs', 'pix2pix.py')
  from jaxgan import config_lib  # pylint: disable=g-import-not-at-top
  config = config_lib.load_config(config_path)
  test = data.open_source(config.data, 'test').get(np.arange(500))
  labels = data.load_mnist_5k('test').labels
  train_source = data.open_source(config.data, 'train').targets  # sorted by label: subsample
  train_digits = train_source.images[np.random.default_rng(0).permutation(len(train_source))[
      :500]]
  scores = common.DigitScores(labels, test['target'])
  table = results.setdefault('digits', {})
  if 'real_digits' not in table:
    table['real_digits'] = {**image_scores(test['target'], test['target']),
                            'accuracy': scores(test['target'])['accuracy'],
                            'kid': scores(train_digits)['kid']}
    table['edge_maps'] = {**image_scores(test['input'], test['target']),
                          **scores(test['input'])}
    common.save_results(results, path)
  grids = {}
  for variant, flags in DIGIT_VARIANTS.items():
    for seed in args.seeds:
      name = f'digits_{variant}_seed{seed}'
      workdir = common.train_run(name, 'pix2pix.py', [
          f'--config.seed={seed}', f'--config.train.num_steps={args.digits_steps}',
          *NO_PERIODIC_EVAL, *flags],
          args.root, results, path)
      if name not in table or seed == args.seeds[0]:
        apply, step = translator(workdir)
        outputs = apply(test['input'])
        grids[variant] = outputs[SHOWN]
        table[name] = {**image_scores(outputs, test['target']), **scores(outputs), 'step': step}
        common.save_results(results, path)
  results['digits_protocol'] = {'split': 'mnist_5k test (500 digits), zero-padded to 32x32',
                                'edges': 'skimage.feature.canny, sigma 1.0',
                                'steps': args.digits_steps, 'seeds': args.seeds,
                                **scores.protocol()}
  common.save_results(results, path)
  rows = [test['input'][SHOWN]] + [grids[v] for v in DIGIT_VARIANTS] + [test['target'][SHOWN]]
  grid = image_lib.make_grid(np.concatenate(rows), columns=10)
  image_lib.save_png(np.repeat(np.repeat(grid, 2, 0), 2, 1),
                     os.path.join(args.out, 'pix2pix_digits.png'))


def mri_baselines(train_pairs, test_inputs) -> dict:
  """Outputs of the linear and the lookup-table voxel-wise mappings on the test inputs."""
  gm, wm, t1 = (np.concatenate([p[..., k].ravel() for p in train_pairs]).astype(np.float64)
                for k in range(3))
  design = np.stack([gm, wm, np.ones_like(gm)], axis=1)
  coefficients, *_ = np.linalg.lstsq(design, t1, rcond=None)
  bins = lambda x: np.minimum(x.astype(np.int64) * BINS // 256, BINS - 1)
  cell = bins(gm) * BINS + bins(wm)
  sums = np.bincount(cell, t1, BINS * BINS)
  counts = np.bincount(cell, None, BINS * BINS)
  linear, table = [], []
  for x in test_inputs:
    g, w = x[..., 0].astype(np.float64), x[..., 1].astype(np.float64)
    fit = coefficients[0] * g + coefficients[1] * w + coefficients[2]
    lookup = bins(g) * BINS + bins(w)
    looked_up = np.where(counts[lookup] > 0, sums[lookup] / np.maximum(counts[lookup], 1), fit)
    linear.append(np.clip(np.round(fit), 0, 255).astype(np.uint8)[..., None])
    table.append(np.clip(np.round(looked_up), 0, 255).astype(np.uint8)[..., None])
  return {'linear_mapping': linear, 'lookup_table': table}


def mri(args, results: dict, path: str) -> None:
  pairs = lambda split: [np.concatenate([t, i], axis=-1) for t, i in zip(
      image_sets.mni152_slices(split, 2, ('gm', 'wm')), image_sets.mni152_slices(split, 1))]
  test = pairs('test')
  inputs, targets = [p[..., :2] for p in test], [p[..., 2:] for p in test]
  outputs = mri_baselines(pairs('train'), inputs)
  table = results.setdefault('mri', {})
  for variant in MRI_VARIANTS:
    flags = DIGIT_VARIANTS[variant] + NO_PERIODIC_EVAL + [
        f'--config.seed={args.seeds[0]}', f'--config.train.num_steps={args.mri_steps}']
    workdir = common.train_run(f'mri_{variant}', 'pix2pix.py:mri', flags, args.root, results,
                               path)
    apply, _ = translator(workdir)
    outputs[variant] = [apply(x[None])[0] for x in inputs]
    # Instance norm sees 64x64 statistics in training: the same windows at test time.
    outputs[f'{variant}_tiles'] = [apply(x[None], tile=64)[0] for x in inputs]
  for row, images in outputs.items():
    per_slice = [image_scores(o[None], t[None]) for o, t in zip(images, targets)]
    table[row] = {k: float(np.mean([s[k] for s in per_slice])) for k in per_slice[0]}
  results['mri_protocol'] = {
      'split': 'whole axial slices z 85-99 of the MNI152 2009a template (233 x 197, background '
               'included); trained on z 30-79 and 105-149',
      'steps': args.mri_steps, 'seed': args.seeds[0]}
  common.save_results(results, path)
  middle = len(inputs) // 2
  panels = [inputs[middle][..., :1], inputs[middle][..., 1:]] + [
      outputs[row][middle] for row in outputs] + [targets[middle]]
  image_lib.save_png(image_lib.make_grid(np.stack(panels), columns=len(panels)),
                     os.path.join(args.out, 'pix2pix_mri.png'))


def markdown(results: dict) -> str:
  lines = []
  table = results.get('digits', {})
  if table:
    seeds = results['digits_protocol']['seeds']
    lines += [f'Edges -> digits, {results["digits_protocol"]["steps"]} steps, seeds {seeds} '
              '(mean ± std over seeds)', '',
              '| model | L1 | PSNR (dB) | SSIM | classifier accuracy | KID |',
              '|---|---|---|---|---|---|']
    for row, label in (('edge_maps', 'edge maps (input)'), ('real_digits', 'real digits')):
      m = table[row]
      lines.append(f'| {label} | {m["l1"]:.4f} | {m["psnr"]:.2f} | {m["ssim"]:.4f} | '
                   f'{m["accuracy"]:.3f} | {m["kid"]:.4f} |')
    for variant in DIGIT_VARIANTS:
      runs = [table[f'digits_{variant}_seed{s}'] for s in seeds
              if f'digits_{variant}_seed{s}' in table]
      if runs:
        cells = [common.mean_std([r[k] for r in runs])
                 for k in ('l1', 'psnr', 'ssim', 'accuracy', 'kid')]
        lines.append(f'| pix2pix {variant.replace("_", " + ")} | ' + ' | '.join(cells) + ' |')
    lines.append('')
  table = results.get('mri', {})
  if table:
    lines += ['Tissue maps -> T1 (MRI), whole held-out slices', '',
              '| model | PSNR (dB) | SSIM | L1 |', '|---|---|---|---|']
    lines += [f'| {row} | {m["psnr"]:.2f} | {m["ssim"]:.4f} | {m["l1"]:.4f} |'
              for row, m in table.items()]
    lines.append('')
  return '\n'.join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--root', default='/tmp/jaxgan_pix2pix', help='Where the runs train.')
  parser.add_argument('--out', default=os.path.join(common.REPO, 'experiments', 'results'))
  parser.add_argument('--seeds', default='0,1,2')
  parser.add_argument('--digits_steps', type=int, default=1000)
  parser.add_argument('--mri_steps', type=int, default=1000)
  parser.add_argument('--tasks', default='digits,mri')
  args = parser.parse_args()
  args.seeds = [int(s) for s in args.seeds.split(',')]
  os.makedirs(args.out, exist_ok=True)
  path = os.path.join(args.out, 'pix2pix.json')
  results = common.load_results(path)
  tasks = args.tasks.split(',')
  if 'digits' in tasks:
    digits(args, results, path)
  if 'mri' in tasks:
    mri(args, results, path)
  with open(os.path.join(args.out, 'pix2pix.md'), 'w') as f:
    f.write(markdown(results))
  print(markdown(results))


if __name__ == '__main__':
  main()
