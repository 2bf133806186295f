"""The super-resolution table and figures of the README: bicubic, SRResNet, SRGAN, ESRGAN on the
held-out photographs, and SRResNet on the MRI test slab, all trained on this machine's CPU.

  python experiments/super_resolution.py [--root=/tmp/jaxgan_sr] [--out=experiments/results]

Trains (or resumes, or skips when finished) five runs in ROOT with the configs' defaults,
recording each one's wall-clock training time (periodic evaluation included):
  srresnet   configs/srresnet.py             rrdb_psnr  configs/esrgan.py:psnr
  srgan      configs/srgan.py <- srresnet    esrgan     configs/esrgan.py <- rrdb_psnr
  sr_mri     configs/sr_mri.py
then scores each run's final checkpoint (the README figures' protocol, from before the configs
chose their best checkpoint on validation images held back from training)
on whole held-out images, the papers' protocol: HR = the image cropped to a multiple of the
scale s (BasicSR's modcrop), LR = PIL bicubic downscaling of the uint8 HR, outputs quantized to
uint8; PSNR/SSIM on BT.601 luma (Y) with s border pixels cropped, and LPIPS (VGG16, v0.1) on
the whole RGB image. Bicubic = PIL bicubic upscaling of the same LR. MRI: the 15 test slices,
greyscale, so Y is the image itself. Results go to OUT/super_resolution.json after every step
(a killed run keeps what it finished) and OUT/super_resolution.md; side-by-side crops to
OUT/super_resolution_*.png.
"""
import argparse
import os
import sys

import jax.numpy as jnp
import numpy as np
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from experiments import common  # pylint: disable=g-import-not-at-top,wrong-import-position
from jaxgan.inference import api  # pylint: disable=wrong-import-position
from jaxgan.data import image_sets  # pylint: disable=wrong-import-position
from jaxgan.data import images as image_lib  # pylint: disable=wrong-import-position
from jaxgan.evaluation import image_quality  # pylint: disable=wrong-import-position
from jaxgan.pretrained import lpips  # pylint: disable=wrong-import-position

# name: (config, the run it starts from or None, data)
RUNS = {
    'srresnet': ('srresnet.py', None, 'photos'),
    'srgan': ('srgan.py', 'srresnet', 'photos'),
    'rrdb_psnr': ('esrgan.py:psnr', None, 'photos'),
    'esrgan': ('esrgan.py', 'rrdb_psnr', 'photos'),
    'sr_mri': ('sr_mri.py', None, 'mri'),
}
ROWS = {'photos': ('bicubic', 'srresnet', 'srgan', 'rrdb_psnr', 'esrgan'),
        'mri': ('bicubic', 'sr_mri')}
SCALES = {'photos': 4, 'mri': 2}
TILE, OVERLAP = 256, 32
ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)  # (1 - alpha) * rrdb_psnr + alpha * esrgan


def train(name: str, root: str, results: dict, path: str) -> None:
  """Trains run `name` to its config's num_steps, timing it (a finished run is skipped)."""
  config, parent, _ = RUNS[name]
  flags = [f'--config.sr.init_from={os.path.join(root, parent)}'] if parent else []
  common.train_run(name, config, flags, root, results, path)


def held_out(data: str) -> tuple[list[str], list[np.ndarray]]:
  """(names, HR images cropped to a multiple of the scale) of the held-out set."""
  scale = SCALES[data]
  if data == 'photos':
    names, images = list(image_sets.PHOTOS_TEST), image_sets.photos('test', 3)
  else:
    names = [f'z{z}' for z in image_sets.MRI_TEST_SLICES]
    images = image_sets.mni152_slices('test', 1)
  return names, [im[:im.shape[0] // scale * scale, :im.shape[1] // scale * scale]
                 for im in images]


def pil_resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
  """PIL bicubic resize of a uint8 [H, W, C] image (antialiased when shrinking)."""
  channels = image.shape[-1]
  pil = Image.fromarray(image[..., 0] if channels == 1 else image)
  out = np.asarray(pil.resize((width, height), Image.BICUBIC))
  return out[..., None] if channels == 1 else out


def score(outputs: list[np.ndarray], targets: list[np.ndarray], scale: int, weights) -> dict:
  """Means over images of PSNR/SSIM (Y, crop scale) and LPIPS (whole image)."""
  per_image = []
  for output, target in zip(outputs, targets):
    a, b = output[None], target[None]
    distance = lpips.distance(*weights, jnp.asarray(a, jnp.float32) / 127.5 - 1,
                              jnp.asarray(b, jnp.float32) / 127.5 - 1)
    per_image.append({
        'psnr_y': float(image_quality.psnr(a, b, scale, True)[0]),
        'ssim_y': float(image_quality.ssim(a, b, scale, True)[0]),
        'psnr_rgb': float(image_quality.psnr(a, b, scale, False)[0]),
        'lpips': float(distance[0])})
  return {key: float(np.mean([m[key] for m in per_image])) for key in per_image[0]}


def evaluate(data: str, root: str, results: dict, path: str, out: str, weights) -> None:
  """Scores every row of `data`'s table and writes its side-by-side figure."""
  scale = SCALES[data]
  names, targets = held_out(data)
  inputs = [pil_resize(t, t.shape[0] // scale, t.shape[1] // scale) for t in targets]
  outputs = {'bicubic': [pil_resize(x, x.shape[0] * scale, x.shape[1] * scale) for x in inputs]}
  table = results.setdefault('eval', {}).setdefault(data, {})
  for row in ROWS[data][1:]:
    model = api.load(os.path.join(root, row))
    outputs[row] = [model.translate(x, tile=TILE, overlap=OVERLAP) for x in inputs]
    table[row] = dict(score(outputs[row], targets, scale, weights), step=model.step)
  table['bicubic'] = score(outputs['bicubic'], targets, scale, weights)
  if data == 'photos':  # ESRGAN's network interpolation, every alpha reported
    curve = results['eval']['esrgan_interpolation'] = {}
    for alpha in ALPHAS:
      model = api.load(os.path.join(root, 'esrgan'), alpha=alpha,
                       interpolate_with=os.path.join(root, 'rrdb_psnr'))
      curve[str(alpha)] = score([model.translate(x, tile=TILE, overlap=OVERLAP) for x in inputs],
                                targets, scale, weights)
  results['protocol'] = __doc__.split('then scores')[1].strip()
  results.setdefault('held_out', {})[data] = names
  common.save_results(results, path)
  figure(data, names, inputs, outputs, targets, scale, out)


def figure(data, names, inputs, outputs, targets, scale, out) -> None:
  """LR (nearest) | each row's output | HR on one crop of the first held-out image."""
  image = 0 if data == 'photos' else len(names) // 2
  size = 96 if data == 'photos' else 128
  top, left = {'photos': (88, 184), 'mri': (40, 40)}[data]
  crop = lambda x, s=1: x[top * s // scale:(top + size) * s // scale,
                          left * s // scale:(left + size) * s // scale]
  low = np.repeat(np.repeat(crop(inputs[image]), scale, 0), scale, 1)
  panels = [low] + [crop(outputs[row][image], scale) for row in ROWS[data]] + [
      crop(targets[image], scale)]
  strip = image_lib.make_grid(np.stack(panels), columns=len(panels))
  strip = np.repeat(np.repeat(strip, 2, 0), 2, 1)  # 2x nearest, for the README
  image_lib.save_png(strip, os.path.join(out, f'super_resolution_{data}.png'))


def markdown(results: dict) -> str:
  lines = []
  for data, rows in ROWS.items():
    table = results.get('eval', {}).get(data)
    if not table:
      continue
    lines += [f'{data} (x{SCALES[data]}, held out: {", ".join(results["held_out"][data])})', '',
              '| model | PSNR-Y (dB) | SSIM-Y | LPIPS | PSNR-RGB (dB) | train steps | '
              'train time |', '|---|---|---|---|---|---|---|']
    for row in rows:
      m, t = table[row], results.get('train', {}).get(row, {})
      minutes = f'{t["seconds"] / 60:.1f} min' if t else '-'
      lines.append(f'| {row} | {m["psnr_y"]:.2f} | {m["ssim_y"]:.4f} | {m["lpips"]:.4f} | '
                   f'{m["psnr_rgb"]:.2f} | {m.get("step", "-")} | {minutes} |')
    lines.append('')
  curve = results.get('eval', {}).get('esrgan_interpolation')
  if curve:
    lines += ['ESRGAN network interpolation, (1 - alpha) * rrdb_psnr + alpha * esrgan (photos)',
              '', '| alpha | PSNR-Y (dB) | SSIM-Y | LPIPS |', '|---|---|---|---|']
    lines += [f'| {alpha} | {m["psnr_y"]:.2f} | {m["ssim_y"]:.4f} | {m["lpips"]:.4f} |'
              for alpha, m in curve.items()]
    lines.append('')
  return '\n'.join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--root', default='/tmp/jaxgan_sr', help='Where the runs train.')
  parser.add_argument('--out', default=os.path.join(REPO, 'experiments', 'results'))
  args = parser.parse_args()
  os.makedirs(args.out, exist_ok=True)
  path = os.path.join(args.out, 'super_resolution.json')
  results = common.load_results(path)
  for name in RUNS:
    train(name, args.root, results, path)
  weights = lpips.load()
  for data in ROWS:
    evaluate(data, args.root, results, path, args.out, weights)
  with open(os.path.join(args.out, 'super_resolution.md'), 'w') as f:
    f.write(markdown(results))
  print(markdown(results))


if __name__ == '__main__':
  main()
