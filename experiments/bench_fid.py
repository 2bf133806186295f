"""Parity and speed of the Flax FID Inception against NVIDIA's TorchScript model, in one run.

  python experiments/bench_fid.py [--num_images=64] [--batch_size=32] [--batches=3]
      [--full_float32] [--packed_weights=DIR]
  python experiments/bench_fid.py --pack_weights=DIR

Parity: pool3 features of `num_images` mnist_5k test digits (clean-fid resized to 299) from both
networks; per-image relative L2 error and the relative error of the FID between the two halves.
Speed: images/s of each network's forward pass on the same resized float batches, already on
each framework's device (torch: NCHW), after one warm-up batch (compilation, cuDNN autotuning),
on this machine's default devices and threads; each timing ends when the device is done. Needs
torch.

On a GPU, torch runs on 'cuda' with cudnn.benchmark. The Flax network always convolves at
Precision.HIGHEST (full float32); torch's cuDNN convolutions use TF32 unless --full_float32 (the
measured error of a torch float32 convolution is printed: ~1e-3 is TF32).

Benchmark only, for machines that take < 64 MiB (default_1.pt is 87 MB): --pack_weights writes the
published file as DIR/skeleton.zip (the archive with its storages emptied) and DIR/storages.npz
(storages of >= 4096 values, the larger kernels, in float16; the rest in float32). With
--packed_weights the TorchScript file is rebuilt from them (float16 widened to float32) and BOTH
networks use it, converted without the sha1 check and never cached: parity then compares
identical, float16-rounded weights.
"""
import argparse
import os
import re
import sys
import tempfile
import time
import zipfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # pylint: disable=g-import-not-at-top
import numpy as np
import torch

from experiments import bench_dcgan
from jaxgan.data import sources as data
from jaxgan.evaluation import metrics
from jaxgan.evaluation import resize
from jaxgan import platform
from jaxgan.pretrained import inception
from jaxgan.pretrained import weights

_STORAGE = re.compile(r'[^/]+/data/(\d+)')
_FLOAT16_MIN_SIZE = 4096


def pack_weights(source: str, folder: str) -> None:
  """Writes `source` (a TorchScript zip of float32 storages) as skeleton.zip + storages.npz."""
  os.makedirs(folder, exist_ok=True)
  storages = {}
  with zipfile.ZipFile(source) as archive, zipfile.ZipFile(
      os.path.join(folder, 'skeleton.zip'), 'w') as skeleton:
    for info in archive.infolist():
      content = archive.read(info)
      match = _STORAGE.fullmatch(info.filename)
      if match:
        values = np.frombuffer(content, '<f4')
        storages[match.group(1)] = values.astype(
            np.float16 if values.size >= _FLOAT16_MIN_SIZE else np.float32)
        content = b''
      skeleton.writestr(info, content)
  np.savez(os.path.join(folder, 'storages.npz'), **storages)


def unpack_weights(folder: str, path: str) -> None:
  """Rebuilds the TorchScript file at `path` from `pack_weights`' files, storages in float32."""
  with zipfile.ZipFile(os.path.join(folder, 'skeleton.zip')) as skeleton, np.load(
      os.path.join(folder, 'storages.npz')) as storages, zipfile.ZipFile(path, 'w') as archive:
    for info in skeleton.infolist():
      match = _STORAGE.fullmatch(info.filename)
      content = (storages[match.group(1)].astype('<f4').tobytes() if match
                 else skeleton.read(info))
      archive.writestr(info, content)


def _fid(features):
  half = len(features) // 2
  return metrics.frechet_distance(metrics.feature_statistics(features[:half]),
                                  metrics.feature_statistics(features[half:]))


def _images_per_second(forward, batches, synchronize):
  synchronize(forward(batches[0]))  # warm-up / compilation
  start = time.perf_counter()
  for batch in batches:
    out = forward(batch)
  synchronize(out)
  return sum(len(b) for b in batches) / (time.perf_counter() - start)


def _describe(device: str) -> str:
  jax_device = jax.devices()[0]
  text = (f'jax: {jax_device.platform} {jax_device.device_kind} x{jax.device_count()} '
          '(Precision.HIGHEST)  torch: ')
  if device == 'cpu':
    text += f'cpu, {torch.get_num_threads()} threads; cpu count: {os.cpu_count()}'
  else:
    text += (f'{torch.cuda.get_device_name()} (cudnn {torch.backends.cudnn.version()}, '
             f'cudnn.allow_tf32={torch.backends.cudnn.allow_tf32})')
  error = bench_dcgan.float32_errors(device)['torch conv']
  return f'{text}; torch float32 conv relative error vs float64: {error:.1e} (TF32: ~1e-3)'


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--num_images', type=int, default=64)
  parser.add_argument('--batch_size', type=int, default=32)
  parser.add_argument('--batches', type=int, default=3)
  parser.add_argument('--full_float32', action='store_true',
                      help='GPU: torch without TF32, like the Flax network (default: TF32).')
  parser.add_argument('--pack_weights', metavar='DIR',
                      help='Write the float16 copy of the published weights to DIR and exit.')
  parser.add_argument('--packed_weights', metavar='DIR',
                      help='Benchmark only: both networks use the weights rebuilt from DIR.')
  args = parser.parse_args()
  if args.pack_weights:
    pack_weights(inception.default_weights_path(), args.pack_weights)
    return
  platform.use_default_xla_flags()  # as the command-line tools do
  device = bench_dcgan.torch_device(args.full_float32)
  print(_describe(device))

  with tempfile.TemporaryDirectory() as scratch:
    if args.packed_weights:
      path = os.path.join(scratch, 'default_1_float16.pt')
      unpack_weights(args.packed_weights, path)
      print(f'weights: float16-rounded copy from {args.packed_weights} (sha1 '
            f'{weights.file_sha1(path)}, not the published {inception.WEIGHTS_SHA1})')
      params = weights.unflatten(inception.convert_torchscript(path))
    else:
      path = inception.default_weights_path()
      params = inception.load_params()
    model = torch.jit.load(path, map_location=device).eval()
  params = jax.device_put(params)
  flax_forward = jax.jit(inception.pool3_features)

  def torch_forward(images):
    with torch.no_grad():
      return model(images / 128.0 - 1.0)

  def to_torch(images):
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).to(device)

  def synchronize_torch(_):
    if device == 'cuda':
      torch.cuda.synchronize()

  digits = resize.clean_resize(data.load_mnist_5k('test').images[:args.num_images])
  chunks = [digits[i:i + args.batch_size] for i in range(0, len(digits), args.batch_size)]
  ours = np.concatenate([np.asarray(flax_forward(params, jax.device_put(c))) for c in chunks])
  theirs = np.concatenate([torch_forward(to_torch(c)).cpu().numpy() for c in chunks])
  relative = np.linalg.norm(ours - theirs, axis=1) / np.linalg.norm(theirs, axis=1)
  fid_ours, fid_theirs = _fid(ours), _fid(theirs)

  rng = np.random.default_rng(0)
  batches = [rng.uniform(0, 255, (args.batch_size, 299, 299, 3)).astype(np.float32)
             for _ in range(args.batches)]
  flax_speed = _images_per_second(lambda b: flax_forward(params, b),
                                  [jax.device_put(b) for b in batches], jax.block_until_ready)
  torch_speed = _images_per_second(torch_forward, [to_torch(b) for b in batches],
                                   synchronize_torch)

  print(f'| parity on {len(digits)} mnist_5k test digits | value |')
  print('| --- | --- |')
  print(f'| pool3 features, max per-image relative L2 error | {relative.max():.2e} |')
  print(f'| pool3 features, max absolute error | {np.abs(ours - theirs).max():.2e} |')
  print(f'| FID between halves: Flax / TorchScript | {fid_ours:.6f} / {fid_theirs:.6f} |')
  print(f'| FID relative error | {abs(fid_ours - fid_theirs) / fid_theirs:.2e} |')
  print()
  print(f'| speed, batch {args.batch_size} x {args.batches} at 299x299 | images/s |')
  print('| --- | --- |')
  print(f'| Flax (jax.jit, XLA) | {flax_speed:.2f} |')
  print(f'| TorchScript (torch {torch.__version__}, {device}) | {torch_speed:.2f} |')
  print(f'| ratio Flax / TorchScript | {flax_speed / torch_speed:.2f} |')


if __name__ == '__main__':
  main()
