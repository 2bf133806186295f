"""Parity and speed of the Flax FID Inception against NVIDIA's TorchScript model, in one run.

  python experiments/bench_fid.py [--num_images=64] [--batch_size=32] [--batches=3]

Parity: pool3 features of `num_images` mnist_5k test digits (clean-fid resized to 299) from both
networks; per-image relative L2 error and the relative error of the FID between the two halves.
Speed: images/s of each network's forward pass on the same resized float batches, after one
warm-up batch (compilation), on this machine's default devices and threads. Needs torch.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # pylint: disable=g-import-not-at-top
import numpy as np
import torch

from jaxgan import data
from jaxgan.pretrained import inception
from jaxgan import metrics
from jaxgan import platform
from jaxgan import resize


def _fid(features):
  half = len(features) // 2
  return metrics.frechet_distance(metrics.feature_statistics(features[:half]),
                                  metrics.feature_statistics(features[half:]))


def _images_per_second(forward, batches):
  forward(batches[0])  # warm-up / compilation
  start = time.perf_counter()
  for batch in batches:
    forward(batch)
  return sum(len(b) for b in batches) / (time.perf_counter() - start)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--num_images', type=int, default=64)
  parser.add_argument('--batch_size', type=int, default=32)
  parser.add_argument('--batches', type=int, default=3)
  args = parser.parse_args()
  platform.use_default_xla_flags()  # as the command-line tools do

  params = inception.load_params()
  flax_forward = jax.jit(inception.pool3_features)
  model = torch.jit.load(inception.default_weights_path()).eval()

  def torch_forward(images):
    with torch.no_grad():
      return model(torch.from_numpy(images.transpose(0, 3, 1, 2) / 128.0 - 1.0)).numpy()

  def jax_forward(images):
    return np.asarray(flax_forward(params, images))

  digits = resize.clean_resize(data.load_mnist_5k('test').images[:args.num_images])
  ours = np.concatenate([jax_forward(digits[i:i + args.batch_size])
                         for i in range(0, len(digits), args.batch_size)])
  theirs = np.concatenate([torch_forward(digits[i:i + args.batch_size])
                           for i in range(0, len(digits), args.batch_size)])
  relative = np.linalg.norm(ours - theirs, axis=1) / np.linalg.norm(theirs, axis=1)
  fid_ours, fid_theirs = _fid(ours), _fid(theirs)

  rng = np.random.default_rng(0)
  batches = [rng.uniform(0, 255, (args.batch_size, 299, 299, 3)).astype(np.float32)
             for _ in range(args.batches)]
  flax_speed = _images_per_second(jax_forward, batches)
  torch_speed = _images_per_second(torch_forward, batches)

  print(f'devices: {jax.devices()}; torch threads: {torch.get_num_threads()}; '
        f'cpu count: {os.cpu_count()}')
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
  print(f'| TorchScript (torch {torch.__version__}) | {torch_speed:.2f} |')
  print(f'| ratio Flax / TorchScript | {flax_speed / torch_speed:.2f} |')


if __name__ == '__main__':
  main()
