"""The inpainting tables of the README: context encoders and partial-convolution U-Nets against
classical fills, on digits and on the bundled photographs, trained on this machine's CPU.

  python experiments/inpainting.py [--root=/tmp/jaxgan_inpaint] [--out=experiments/results]

Runs (configs/inpaint.py presets, the configs' budgets unless --steps overrides them):
  digits_ce      context encoder, L2 in the hole + adversarial (Pathak et al.'s 0.999 : 0.001)
  digits_l2      the same network, L2 only (the paper's ablation: the adversarial term trades
                 PSNR for sharpness)
  digits_pconv   partial-convolution U-Net, Liu et al.'s loss
  photos_ce      context encoder on 64x64 photo crops with a centred 32x32 hole
  photos_pconv   partial-convolution U-Net on the photo crops with free-form strokes
Each run's final EMA generator fills the held-out set: the 500 mnist_5k test digits (zero-padded
to 32x32, the centred 14x14 hole) or every 64x64 tile of astronaut, chelsea and coffee (never
trained on; the hole of the run's mask generator keyed by the tile's index). Baselines on the
same images and holes: the training set's mean colour, the mean of the image's known pixels,
and skimage.restoration.inpaint_biharmonic. Scores: PSNR of the squared error pooled over all
hole pixels of the set (a per-image mean would be infinite when one hole is filled exactly) and
the mean L1 ([0, 1] scale) inside the hole; PSNR (pooled) and mean SSIM of the whole image;
LPIPS (photos); for digits the digit classifier's accuracy and KID against the real test
digits (experiments/common.py).

Results go to OUT/inpainting.json after every step (a killed run keeps what it finished; a
rerun skips it), the tables to OUT/inpainting.md, image grids to OUT/inpainting_*.png.
"""
import argparse
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=wrong-import-position
from experiments import common
from jaxgan import config_lib
from jaxgan.data import images as image_lib
from jaxgan.data import masks as masks_lib
from jaxgan.data import sources as data
from jaxgan.evaluation import inpainting_baselines as baselines
from jaxgan.inference import runs
from jaxgan.pretrained import lpips
# pylint: enable=wrong-import-position

# run: (preset, extra flags, test set)
RUNS = {
    'digits_ce': ('digits', [], 'digits'),
    'digits_l2': ('digits', ['--config.objective.adversarial_weight=0'], 'digits'),
    'digits_pconv': ('digits_pconv', [], 'digits'),
    'photos_ce': ('photos', [], 'photos_center'),
    'photos_pconv': ('photos_pconv', [], 'photos_strokes'),
}
TEST_SETS = {'digits': 'digits', 'photos_center': 'photos', 'photos_strokes': 'photos_pconv'}
BASELINES = ('dataset_mean', 'context_mean', 'biharmonic')
SHOWN = {'digits': np.arange(0, 500, 50), 'photos_center': np.arange(0, 40, 4),
         'photos_strokes': np.arange(0, 40, 4)}


def test_set(name: str) -> tuple[dict, np.ndarray]:
  """(the held-out batch {'input', 'mask', 'target'}, the training set's mean colour)."""
  config = config_lib.load_config(os.path.join(common.REPO, 'configs',
                                               f'inpaint.py:{TEST_SETS[name]}'))
  test = data.open_source(config.data, 'test')
  batch = test.get(np.arange(len(test)))
  train = data.open_source(config.data, 'train').targets
  sample = np.random.default_rng(0).choice(len(train), min(len(train), 2000), replace=False)
  return batch, baselines.channel_mean(train.get(np.sort(sample))['image'])


def inpainter(workdir: str):
  """(apply, step): apply(images, masks) -> uint8 fills of the run's final EMA generator."""
  _, family, state = runs.load_run(workdir)
  state = jax.device_put(state, jax.devices()[0])
  inpaint = jax.jit(family.inpaint)

  def apply(images, masks):
    return np.concatenate([image_lib.to_uint8(inpaint(state, images[i:i + 100],
                                                      masks[i:i + 100]))
                           for i in range(0, len(images), 100)])

  return apply, int(state.step)


def scores(outputs, batch, lpips_weights, digit_scores) -> dict:
  target, mask = batch['target'], batch['mask']
  result = {name: float(np.mean(values))
            for name, values in baselines.hole_metrics(outputs, target, mask).items()}
  # PSNR of the squared error pooled over the set: an exactly filled hole (a thin stroke on a
  # flat patch) makes one image's PSNR infinite, and so its mean over images.
  squared = np.square(outputs.astype(np.float64) - target.astype(np.float64))
  hole = np.broadcast_to(mask.astype(bool), squared.shape)
  result['hole_psnr'] = float(10 * np.log10(255.0 ** 2 / squared[hole].mean()))
  result['psnr'] = float(10 * np.log10(255.0 ** 2 / squared.mean()))
  if digit_scores is not None:
    result.update(digit_scores(outputs))
  else:
    normalized = lambda x: jnp.asarray(x, jnp.float32) / 127.5 - 1
    result['lpips'] = float(np.mean(np.concatenate([
        lpips.distance(*lpips_weights, normalized(outputs[i:i + 100]),
                       normalized(target[i:i + 100])) for i in range(0, len(target), 100)])))
  return result


def evaluate(name: str, args, results: dict, path: str, lpips_weights) -> None:
  """Scores the baselines and every run of test set `name`; writes its grid."""
  batch, mean = test_set(name)
  digit_scores = None
  if name == 'digits':
    digit_scores = common.DigitScores(data.load_mnist_5k('test').labels, batch['target'])
  images, masks = batch['target'], batch['mask']
  outputs = {'dataset_mean': baselines.dataset_mean_fill(images, masks, mean),
             'context_mean': baselines.context_mean_fill(images, masks),
             'biharmonic': baselines.biharmonic_fill(images, masks)}
  for run, (_, _, test) in RUNS.items():
    if test == name and results.get('train', {}).get(run, {}).get('finished'):
      apply, step = inpainter(os.path.join(args.root, run))
      outputs[run] = apply(images, masks)
      results.setdefault('steps', {})[run] = step
  table = results.setdefault('eval', {}).setdefault(name, {})
  for row, filled in outputs.items():
    np.testing.assert_array_equal(filled[masks[..., 0] == 0], images[masks[..., 0] == 0])
    table[row] = scores(filled, batch, lpips_weights, digit_scores)
  table['count'] = len(images)
  table['hole_fraction'] = float(np.mean(masks_lib.hole_fraction(masks)))
  common.save_results(results, path)
  shown = SHOWN[name]
  holes = np.where(masks[shown] == 1, 128, images[shown]).astype(np.uint8)
  rows = [holes] + [outputs[row][shown] for row in outputs] + [images[shown]]
  grid = image_lib.make_grid(np.concatenate(rows), columns=len(shown))
  scale = 2 if name == 'digits' else 1
  image_lib.save_png(np.repeat(np.repeat(grid, scale, 0), scale, 1),
                     os.path.join(args.out, f'inpainting_{name}.png'))


def markdown(results: dict) -> str:
  lines = []
  for name, table in results.get('eval', {}).items():
    digits = name == 'digits'
    extra = ['classifier accuracy', 'KID'] if digits else ['LPIPS']
    keys = ['hole_psnr', 'hole_l1', 'psnr', 'ssim'] + (['accuracy', 'kid'] if digits
                                                       else ['lpips'])
    lines += [f'{name} ({table["count"]} held-out images, holes cover '
              f'{100 * table["hole_fraction"]:.1f}% of the pixels)', '',
              '| fill | hole PSNR (dB) | hole L1 | PSNR (dB) | SSIM | ' + ' | '.join(extra) +
              ' | train steps | train time |', '|---' * (len(keys) + 3) + '|']
    for row, m in table.items():
      if row in ('count', 'hole_fraction'):
        continue
      t = results.get('train', {}).get(row)
      minutes = f'{t["seconds"] / 60:.1f} min' if t else '-'
      cells = [f'{m[k]:.4f}' if k in ('hole_l1', 'ssim', 'lpips', 'kid') else
               f'{m[k]:.3f}' if k == 'accuracy' else f'{m[k]:.2f}' for k in keys]
      lines.append(f'| {row} | ' + ' | '.join(cells) +
                   f' | {results.get("steps", {}).get(row, "-")} | {minutes} |')
    lines.append('')
  return '\n'.join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--root', default='/tmp/jaxgan_inpaint', help='Where the runs train.')
  parser.add_argument('--out', default=os.path.join(common.REPO, 'experiments', 'results'))
  parser.add_argument('--steps', default='', help='Overrides, e.g. digits_ce=1500,photos_ce=2000.')
  parser.add_argument('--runs', default=','.join(RUNS))
  args = parser.parse_args()
  steps = dict(item.split('=') for item in args.steps.split(',') if item)
  os.makedirs(args.out, exist_ok=True)
  path = os.path.join(args.out, 'inpainting.json')
  results = common.load_results(path)
  selected = args.runs.split(',')
  for run in selected:
    preset, flags, _ = RUNS[run]
    flags = flags + ['--config.eval.every_steps=0'] + (  # scored here, final checkpoint
        [f'--config.train.num_steps={steps[run]}'] if run in steps else [])
    common.train_run(run, f'inpaint.py:{preset}', flags, args.root, results, path)
  results['protocol'] = 'Each run' + __doc__.split('Each run')[1].split('Results go')[0].rstrip()
  lpips_weights = lpips.load()
  for name in dict.fromkeys(RUNS[run][2] for run in selected):
    evaluate(name, args, results, path, lpips_weights)
  with open(os.path.join(args.out, 'inpainting.md'), 'w') as f:
    f.write(markdown(results))
  print(markdown(results))


if __name__ == '__main__':
  main()
