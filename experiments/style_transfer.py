"""The style-transfer figures of the README: Gatys et al.'s optimization against Johnson et al.'s
feed-forward network on the same objective, on this machine's CPU.

  python experiments/style_transfer.py [--root=/tmp/jaxgan_style] [--out=experiments/results]
      [--styles=hubble_deep_field,immunohistochemistry,gravel] [--size=256] [--iterations=200]
      [--fast_steps=600] [--fast_features=16]

Objective: jaxgan/style_transfer.DEFAULT (content relu4_2, style relu1_1 ... relu5_1, weights
1 and 1, no TV), the style image at a longer side of 256. Content: the held-out photographs
(astronaut, chelsea, coffee; never trained on), resized to a longer side of --size.

  timing     seconds per Gatys iteration (L-BFGS without and with a line search; Adam) at
             256 and 512 px (astronaut, square), after compilation, and the temporary memory of
             the compiled step; images per second of the feed-forward network at the same
             sizes (batch 1, after compilation). Run first, before anything else loads the CPU.
  fast       one network per style (configs/fast_style.py with --fast_steps and
             --fast_features: the paper's 32-feature network and 40k steps do not fit a CPU
             budget), trained on random 128x128 crops of the 16 training photographs.
  gatys      L-BFGS from uniform noise (as Johnson et al.'s comparison, whose baseline
             starts from noise), --iterations iterations, per content x style; the objective
             of every iterate. The network's output on the same content is scored on the same
             objective, and "Gatys-equivalent iterations" is the first iteration whose
             objective is at or below the network's (> N if none). The unchanged content
             image's objective (its style term alone) is reported beside it.
  optimizers L-BFGS without and with the zoom line search vs Adam (learning rate 0.02) from the
             content image, and L-BFGS from noise, at --optimizer_iterations iterations, on
             chelsea x the first style.

Results go to OUT/style_transfer.json after every run (a killed sweep keeps what it finished; a
rerun skips it), the tables to OUT/style_transfer.md, the content x style grid to
OUT/style_transfer_grid.png (rows: contents; per style: Gatys | fast network).
"""
import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=wrong-import-position
from experiments import common
from jaxgan.data import image_sets
from jaxgan.data import images as image_lib
from jaxgan.inference import runs
from jaxgan.models import style as style_models
from jaxgan.pretrained import vgg16
from jaxgan.style import objective as style_transfer
from jaxgan.style import optimization as style_optimization
# pylint: enable=wrong-import-position

CONTENTS = tuple(image_sets.PHOTOS_TEST)
STYLE_SIZE = 256
TIMED_ITERATIONS = 5
ADAM_LEARNING_RATE = 0.02
GRID_CELL = 160


def _x(image: np.ndarray) -> jax.Array:
  return jnp.asarray(image[None], jnp.float32) / 127.5 - 1


def style_image(name: str) -> np.ndarray:
  return style_transfer.resize_longer_side(image_sets.photo(name, 3), STYLE_SIZE)


def content_image(name: str, size: int) -> np.ndarray:
  return style_transfer.resize_longer_side(image_sets.photo(name, 3), size)


def objective_of(vgg, image: np.ndarray, content: np.ndarray, style: np.ndarray) -> dict:
  """The objective's terms of a uint8 image with `content` and `style` (uint8)."""
  objective = style_transfer.DEFAULT
  terms = style_transfer.losses(
      vgg, objective, _x(image), style_transfer.content_targets(vgg, objective, _x(content)),
      style_transfer.style_targets(vgg, objective, _x(style)))
  return {k: float(v[0]) for k, v in terms.items()}


def equivalent_iterations(curve: list[float], value: float) -> int | None:
  """The first iteration whose objective is <= value; None if none."""
  return next((i for i, v in enumerate(curve) if v <= value), None)


def time_gatys(vgg, results: dict, path: str) -> None:
  timing = results.setdefault('timing', {})
  for size in (256, 512):
    content = content_image('astronaut', size)
    style = style_image('hubble_deep_field')
    for optimizer in style_optimization.OPTIMIZERS:
      key = f'gatys_{optimizer}_{size}'
      if key in timing:
        continue
      result = style_optimization.optimize(
          vgg, content, style, style_transfer.DEFAULT, TIMED_ITERATIONS, optimizer=optimizer,
          log_every=10**6, quiet=True)
      seconds = result.curves['seconds']
      timing[key] = {'seconds_per_iteration': (seconds[-1] - seconds[0]) / (len(seconds) - 1),
                     'line_search_steps': float(np.mean(result.curves['line_search_steps'])),
                     'memory_mib': result.curves['step_memory_mib']}
      print(key, timing[key], flush=True)
      common.save_results(results, path)


def time_fast(features: int, results: dict, path: str) -> None:
  timing = results.setdefault('timing', {})
  network = style_models.TransformNet(3, features, 5)
  params = network.init(jax.random.key(0), jnp.zeros((1, 16, 16, 3)), train=False)
  apply = jax.jit(lambda p, x: network.apply(p, x, train=False))
  for size in (256, 512):
    key = f'fast_{size}'
    if key in timing:
      continue
    x = _x(content_image('astronaut', size))
    apply(params, x).block_until_ready()
    start, repeats = time.perf_counter(), 10
    for _ in range(repeats):
      apply(params, x).block_until_ready()
    timing[key] = {'images_per_second': repeats / (time.perf_counter() - start),
                   'features': features}
    print(key, timing[key], flush=True)
    common.save_results(results, path)


def train_fast(styles, steps: int, features: int, root: str, results: dict, path: str) -> dict:
  workdirs = {}
  for style in styles:
    flags = [f'--config.train.num_steps={steps}', f'--config.model.features={features}',
             f'--config.train.checkpoint_every={steps}', '--config.eval.every_steps=0',
             f'--config.train.sample_every={steps}']
    workdirs[style] = common.train_run(f'fast_{style}', f'fast_style.py:{style}', flags, root,
                                       results, path)
  return workdirs


def stylize_fast(workdir: str, content: np.ndarray) -> np.ndarray:
  _, family, state = runs.load_run(workdir)
  return image_lib.to_uint8(family.translate(state, content[None])[0])


def run_gatys(vgg, styles, size: int, iterations: int, workdirs: dict, root: str,
              results: dict, path: str) -> None:
  table = results.setdefault('gatys', {})
  for style_name in styles:
    style = style_image(style_name)
    for content_name in CONTENTS:
      key = f'{content_name}_x_{style_name}'
      if key in table:
        continue
      content = content_image(content_name, size)
      fast = stylize_fast(workdirs[style_name], content)
      result = style_optimization.optimize(vgg, content, style, style_transfer.DEFAULT,
                                           iterations, init='noise',
                                           log_every=max(1, iterations // 4), quiet=True)
      image_lib.save_png(result.image, os.path.join(root, f'gatys_{key}.png'))
      image_lib.save_png(fast, os.path.join(root, f'fast_{key}.png'))
      fast_terms = objective_of(vgg, fast, content, style)
      table[key] = {'gatys_total': result.curves['total'],
                    'gatys_terms': {k: result.curves[k] for k in style_transfer.TERMS},
                    'logged_steps': result.curves['logged_steps'],
                    'fast_terms': fast_terms,
                    'content_image_terms': objective_of(vgg, content, content, style),
                    'equivalent_iterations': equivalent_iterations(result.curves['total'],
                                                                   fast_terms['total'])}
      print(key, 'fast', fast_terms['total'], 'gatys', result.curves['total'][-1],
            'equivalent', table[key]['equivalent_iterations'], flush=True)
      common.save_results(results, path)


def run_optimizers(vgg, style_name: str, size: int, iterations: int, results: dict,
                   path: str) -> None:
  table = results.setdefault('optimizers', {})
  content, style = content_image('chelsea', size), style_image(style_name)
  same = results.get('gatys', {}).get(f'chelsea_x_{style_name}')
  if same is not None and 'lbfgs from noise' not in table:  # the Gatys table's run
    table['lbfgs from noise'] = {'total': same['gatys_total'][:iterations + 1],
                                 'line_search_steps': 0}
  for name, options in (('lbfgs from noise', {'init': 'noise'}), ('lbfgs', {}),
                        ('lbfgs_zoom', {'optimizer': 'lbfgs_zoom'}),
                        ('adam', {'optimizer': 'adam', 'learning_rate': ADAM_LEARNING_RATE})):
    if name in table:
      continue
    result = style_optimization.optimize(vgg, content, style, style_transfer.DEFAULT,
                                         iterations, log_every=iterations, quiet=True,
                                         **options)
    table[name] = {'total': result.curves['total'],
                   'line_search_steps': int(np.sum(result.curves['line_search_steps']))}
    print(name, result.curves['total'][-1], flush=True)
    common.save_results(results, path)


def save_grid(styles, size: int, root: str, out: str) -> None:
  """Rows: the style images, then each content; per style two columns (Gatys | fast). Cells
  are GRID_CELL pixels (the outputs downscaled, to keep the PNG small)."""
  cell = GRID_CELL

  def fit(image):
    canvas = np.full((cell, cell, 3), 255, np.uint8)
    image = style_transfer.resize_longer_side(image, cell)
    canvas[:image.shape[0], :image.shape[1]] = image
    return canvas

  blank = np.full((cell, cell, 3), 255, np.uint8)
  rows = [[blank] + [fit(style_image(s)) for s in styles for _ in (0, 1)]]
  for content_name in CONTENTS:
    row = [fit(content_image(content_name, size))]
    for style_name in styles:
      key = f'{content_name}_x_{style_name}'
      row += [fit(image_lib.read_image(os.path.join(root, f'{method}_{key}.png')))
              for method in ('gatys', 'fast')]
    rows.append(row)
  images = np.stack([image for row in rows for image in row])
  image_lib.save_png(image_lib.make_grid(images, columns=len(rows[0])),
                     os.path.join(out, 'style_transfer_grid.png'))


def _shown(curve: list, iterations=(0, 10, 50)) -> list[int]:
  """The indices of `iterations` present in the curve, and its last."""
  return [i for i in iterations if i < len(curve) - 1] + [len(curve) - 1]


def write_tables(results: dict, styles, iterations: int, out: str) -> None:
  timing = results.get('timing', {})
  lines = ['# Style transfer', '', '## Speed (this machine, 2-core CPU)', '',
           '| | 256 px | 512 px |', '|---|---|---|']
  for optimizer in style_optimization.OPTIMIZERS:
    cells = []
    for size in (256, 512):
      entry = timing.get(f'gatys_{optimizer}_{size}')
      cells.append('' if entry is None else
                   f"{entry['seconds_per_iteration']:.2f} s/iteration "
                   f"({entry['memory_mib']:.0f} MiB)")
    lines.append(f'| Gatys, {optimizer} | {" | ".join(cells)} |')
  cells, ratios = [], []
  for size in (256, 512):
    fast, gatys = timing.get(f'fast_{size}'), timing.get(f'gatys_lbfgs_{size}')
    cells.append('' if fast is None else f"{fast['images_per_second']:.2f} images/s")
    if fast and gatys:
      seconds = gatys['seconds_per_iteration'] * iterations
      ratios.append(f'{seconds:.0f} s per Gatys image ({iterations} L-BFGS iterations) = '
                    f"{seconds * fast['images_per_second']:.0f}x the network's time")
  lines.append(f'| fast network | {" | ".join(cells)} |')
  lines += ['', *[f'- {size} px: {r}' for size, r in zip((256, 512), ratios)], '',
            '## Objective reached on held-out photographs', '',
            '| content x style | unchanged photograph | network | Gatys from noise after 0 / 10 '
            '/ 50 / last iterations | Gatys-equivalent iterations of the network |',
            '|---|---|---|---|---|']
  for key, entry in results.get('gatys', {}).items():
    total = entry['gatys_total']
    equivalent = entry['equivalent_iterations']
    shown = ' / '.join(f'{total[i]:.4g}' for i in _shown(total))
    unchanged = entry['content_image_terms']['total']
    lines.append(f"| {key.replace('_x_', ' x ')} | {unchanged:.4g} | "
                 f"{entry['fast_terms']['total']:.4g} | "
                 f'{shown} | '
                 f"{'> %d' % (len(total) - 1) if equivalent is None else equivalent} |")
  optimizers = results.get('optimizers', {})
  if optimizers:
    lines += ['', '## Optimizers (chelsea x the first style)', '',
              '| run | objective after 0 / 10 / 50 / ... / last iterations | line-search '
              'steps |', '|---|---|---|']
    for name, entry in optimizers.items():
      total = entry['total']
      shown = ' / '.join(f'{total[i]:.4g}' for i in _shown(total))
      lines.append(f"| {name} | {shown} | {entry['line_search_steps']} |")
  with open(os.path.join(out, 'style_transfer.md'), 'w') as f:
    f.write('\n'.join(lines) + '\n')
  print('\n'.join(lines))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--root', default='/tmp/jaxgan_style')
  parser.add_argument('--out', default=os.path.join(common.REPO, 'experiments', 'results'))
  parser.add_argument('--styles', default='hubble_deep_field,immunohistochemistry,gravel')
  parser.add_argument('--size', type=int, default=256)
  parser.add_argument('--iterations', type=int, default=200)
  parser.add_argument('--optimizer_iterations', type=int, default=100)
  parser.add_argument('--fast_steps', type=int, default=600)
  parser.add_argument('--fast_features', type=int, default=16)
  args = parser.parse_args()
  styles = args.styles.split(',')
  os.makedirs(args.root, exist_ok=True)
  path = os.path.join(args.out, 'style_transfer.json')
  results = common.load_results(path)
  results['protocol'] = {
      'objective': style_transfer.DEFAULT._asdict(), 'style_size': STYLE_SIZE,
      'content': f'{list(CONTENTS)} at a longer side of {args.size}', 'styles': styles,
      'gatys': f'L-BFGS (optax, no line search) from uniform noise (seed 0), '
               f'{args.iterations} iterations',
      'fast': f'configs/fast_style.py, {args.fast_steps} steps, {args.fast_features} features'}
  vgg = vgg16.load_params()
  time_gatys(vgg, results, path)
  time_fast(args.fast_features, results, path)
  workdirs = train_fast(styles, args.fast_steps, args.fast_features, args.root, results, path)
  run_gatys(vgg, styles, args.size, args.iterations, workdirs, args.root, results, path)
  run_optimizers(vgg, styles[0], args.size, args.optimizer_iterations, results, path)
  save_grid(styles, args.size, args.root, args.out)
  write_tables(results, styles, args.iterations, args.out)


if __name__ == '__main__':
  main()
