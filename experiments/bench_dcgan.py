"""Times the reference DCGAN train step in JAX beside a PyTorch twin, on this machine, in one run.

  python experiments/bench_dcgan.py [--batch_size=64] [--steps=30] [--repeats=5]
      [--trainer_steps=500] [--flax_conv_transpose] [--bfloat16] [--full_float32]

JAX: the trainer's own compiled step (jaxgan.training.trainer.compile_train_step: one D and one G
update, metric accumulation, donated state) on a synthetic uint8 batch already on device. End to
end: the whole trainer (train_and_evaluate on mnist_5k with the config's logging, sampling and
checkpoint intervals), timed as the difference between a run of 50 + trainer_steps steps and a run
of 50 steps, which cancels start-up and compilation. --flax_conv_transpose also times the step with
flax.linen.ConvTranspose in place of the sub-pixel layer (before/after). PyTorch: the same
architecture, loss and optimizer in eager mode (same layer shapes and FLOPs; torch pads
'SAME' convolutions symmetrically, TF/Flax put the odd pixel at the end). Both use all of this
machine's cores. Prints ms/step (median over repeats) and the ratio torch_ms / jax_ms (> 1 means
JAX is faster), plus JAX's compile time and the fraction of the measured matmul peak.
--bfloat16 also times both steps with bfloat16 compute and float32 parameters.

On a GPU, JAX runs on its default backend and torch on 'cuda' (cudnn.benchmark on), each window
ends with block_until_ready / torch.cuda.synchronize, and --bfloat16 uses CUDA autocast. Both
frameworks' defaults then differ: XLA uses TF32 for float32 convolutions and matmuls, torch for
convolutions only. --full_float32 turns TF32 off on both sides (jax_default_matmul_precision
'highest'; torch allow_tf32 False for cuDNN and matmuls) for a like-for-like pair; each run prints
the settings it used. On a CPU the flag changes nothing.
"""
import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time

import flax.linen
import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from jaxgan.training import mesh as mesh_lib
from jaxgan import config_lib  # pylint: disable=g-import-not-at-top
from jaxgan import families
from jaxgan.families import base
from jaxgan.models import layers
from jaxgan import platform
from jaxgan.training import trainer as train

CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'configs',
                      'dcgan.py')


def time_windows(run_window, steps: int, repeats: int) -> float:
  """Median over `repeats` of the mean ms per step of a window of `steps` steps."""
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    run_window(steps)
    times.append((time.perf_counter() - start) / steps * 1e3)
  return statistics.median(times)


def torch_device(full_float32: bool) -> str:
  """'cuda' when torch sees a GPU (cuDNN autotuning on, TF32 unless `full_float32`), else 'cpu'."""
  import torch  # pylint: disable=g-import-not-at-top
  if not torch.cuda.is_available():
    return 'cpu'
  torch.backends.cudnn.benchmark = True
  torch.backends.cudnn.allow_tf32 = not full_float32
  torch.backends.cuda.matmul.allow_tf32 = not full_float32
  return 'cuda'


def float32_errors(device: str) -> dict[str, float]:
  """Max error, relative to the largest output, of a float32 convolution (3x3, 64 channels) and
  matmul (256^2) against float64, per framework at its current settings: ~1e-6 is full float32,
  ~1e-3 TF32 (inputs rounded to 10 mantissa bits)."""
  import torch  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  x, w = rng.standard_normal((8, 64, 16, 16)), rng.standard_normal((64, 64, 3, 3))
  a, b = rng.standard_normal((256, 256)), rng.standard_normal((256, 256))
  conv = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1).numpy()

  def error(result, reference):
    return float(np.abs(np.asarray(result, np.float64) - reference).max() /
                 np.abs(reference).max())

  def to_torch(array):
    return torch.from_numpy(array.astype(np.float32)).to(device)

  x32, w32 = x.astype(np.float32), w.astype(np.float32)
  return {
      'jax conv': error(jax.lax.conv_general_dilated(x32, w32, (1, 1), 'SAME'), conv),
      'jax matmul': error(jnp.dot(a.astype(np.float32), b.astype(np.float32)), a @ b),
      'torch conv': error(torch.nn.functional.conv2d(to_torch(x), to_torch(w), padding=1).cpu(),
                          conv),
      'torch matmul': error((to_torch(a) @ to_torch(b)).cpu(), a @ b)}


def describe_devices(device: str) -> str:
  """The devices and float32 precision settings of both frameworks (set and measured)."""
  import torch  # pylint: disable=g-import-not-at-top
  jax_device = jax.devices()[0]
  text = (f'jax: {jax_device.platform} {jax_device.device_kind} x{jax.device_count()} '
          f'(default_matmul_precision={jax.config.jax_default_matmul_precision})  torch '
          f'{torch.__version__}: ')
  if device == 'cpu':
    text += f'cpu, {torch.get_num_threads()} threads'
  else:
    text += (f'{torch.cuda.get_device_name()} (cudnn {torch.backends.cudnn.version()}, '
             f'cudnn.allow_tf32={torch.backends.cudnn.allow_tf32}, '
             f'matmul.allow_tf32={torch.backends.cuda.matmul.allow_tf32})')
  errors = ', '.join(f'{name} {value:.1e}' for name, value in float32_errors(device).items())
  return f'{text}\nfloat32 relative error vs float64 (~1e-6: float32, ~1e-3: TF32): {errors}'


def bench_jax(batch_size: int, steps: int, repeats: int, compute_dtype: str = 'float32'):
  config = config_lib.load_config(CONFIG)
  config.train.batch_size = batch_size
  config.model.compute_dtype = compute_dtype
  mesh = mesh_lib.make_mesh()
  family = families.make(config)
  state = families.init_state(family, mesh)
  batch_sharding = mesh_lib.data_sharding(mesh)
  phase = base.phases(family)[0]._replace(batch_size=batch_size)
  names = train.metric_names(family, state, phase)
  sums = train.zero_metric_sums(names, mesh)
  key = mesh_lib.replicate(families.root_keys(0)['train'], mesh)
  rng = np.random.default_rng(0)
  batch = {'image': jax.device_put(rng.integers(0, 256, (batch_size, 28, 28, 1), np.uint8),
                                   batch_sharding),
           'label': jax.device_put(np.zeros(batch_size, np.int32), batch_sharding)}
  step_fn = train.jit_train_step(family, mesh)
  start = time.perf_counter()
  compiled = step_fn.lower(state, sums, batch, key).compile()
  compile_s = time.perf_counter() - start
  flops = (compiled.cost_analysis() or {}).get('flops', float('nan'))
  holder = {'state': state, 'sums': sums}

  def window(n):
    for _ in range(n):
      holder['state'], holder['sums'] = step_fn(holder['state'], holder['sums'], batch, key)
    jax.block_until_ready(holder['state'])

  window(3)
  return time_windows(window, steps, repeats), compile_s, flops


def bench_trainer(trainer_steps: int) -> float:
  """ms per step of the whole trainer after compilation, logging and checkpoints included."""
  seconds = {}
  for num_steps in (50, 50 + trainer_steps):
    config = config_lib.load_config(CONFIG)
    config.train.num_steps = num_steps
    with tempfile.TemporaryDirectory() as workdir:
      seconds[num_steps] = _timed(lambda: train.train_and_evaluate(config, workdir))
  return (seconds[50 + trainer_steps] - seconds[50]) / trainer_steps * 1e3


def matmul_peak_gflops() -> float:
  """Measured float32 matmul throughput of the default device through XLA (n^2 x n: n = 2048 on
  a CPU, 8192 on an accelerator; at the default precision, TF32 on a recent GPU)."""
  n = 2048 if jax.default_backend() == 'cpu' else 8192
  a = jnp.ones((n, n), jnp.float32)
  matmul = jax.jit(lambda x: x @ x)
  matmul(a).block_until_ready()
  seconds = min(_timed(lambda: matmul(a).block_until_ready()) for _ in range(5))
  return 2 * n ** 3 / seconds / 1e9


def _timed(fn) -> float:
  start = time.perf_counter()
  fn()
  return time.perf_counter() - start


def bench_torch(batch_size: int, steps: int, repeats: int, bfloat16: bool = False,
                device: str = 'cpu') -> float:
  import torch  # pylint: disable=g-import-not-at-top
  from torch import nn  # pylint: disable=g-import-not-at-top
  torch.manual_seed(0)
  generator = nn.Sequential(
      nn.Linear(100, 7 * 7 * 256, bias=False), nn.BatchNorm1d(7 * 7 * 256, 1e-3, 0.01),
      nn.LeakyReLU(0.2), nn.Unflatten(1, (256, 7, 7)),
      nn.ConvTranspose2d(256, 128, 5, 1, 2, bias=False), nn.BatchNorm2d(128, 1e-3, 0.01),
      nn.LeakyReLU(0.2),
      nn.ConvTranspose2d(128, 64, 5, 2, 2, output_padding=1, bias=False),
      nn.BatchNorm2d(64, 1e-3, 0.01), nn.LeakyReLU(0.2),
      nn.ConvTranspose2d(64, 1, 5, 2, 2, output_padding=1, bias=False), nn.Tanh())
  discriminator = nn.Sequential(
      nn.Conv2d(1, 64, 5, 2, 2), nn.LeakyReLU(0.2), nn.Dropout(0.3),
      nn.Conv2d(64, 128, 5, 2, 2), nn.LeakyReLU(0.2), nn.Dropout(0.3),
      nn.Flatten(), nn.Linear(128 * 7 * 7, 1))
  generator, discriminator = generator.to(device), discriminator.to(device)
  g_opt = torch.optim.Adam(generator.parameters(), 2e-4, betas=(0.5, 0.999), eps=1e-7)
  d_opt = torch.optim.Adam(discriminator.parameters(), 2e-4, betas=(0.5, 0.999), eps=1e-7)
  bce = nn.BCEWithLogitsLoss()
  real = torch.rand(batch_size, 1, 28, 28, device=device) * 2 - 1
  ones = torch.ones(batch_size, 1, device=device)
  zeros = torch.zeros(batch_size, 1, device=device)

  def autocast():  # forward passes only, as torch's AMP recipe prescribes
    return torch.autocast(device, torch.bfloat16) if bfloat16 else contextlib.nullcontext()

  def step():
    with autocast():
      fake = generator(torch.randn(batch_size, 100, device=device))
      d_loss = bce(discriminator(real), ones) + bce(discriminator(fake.detach()), zeros)
    d_opt.zero_grad(set_to_none=True)
    d_loss.backward()
    d_opt.step()
    with autocast():
      g_loss = bce(discriminator(generator(torch.randn(batch_size, 100, device=device))), ones)
    g_opt.zero_grad(set_to_none=True)
    g_loss.backward()
    g_opt.step()

  def window(n):
    for _ in range(n):
      step()
    if device == 'cuda':
      torch.cuda.synchronize()

  window(3)
  return time_windows(window, steps, repeats)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--batch_size', type=int, default=64)
  parser.add_argument('--steps', type=int, default=30)
  parser.add_argument('--repeats', type=int, default=5)
  parser.add_argument('--trainer_steps', type=int, default=500,
                      help='Steps of the end-to-end trainer timing (0: skip it).')
  parser.add_argument('--bfloat16', action='store_true',
                      help='Also time both steps with bfloat16 compute (JAX: '
                      'model.compute_dtype; torch: CPU autocast), float32 params.')
  parser.add_argument('--flax_conv_transpose', action='store_true',
                      help='Also time the step with flax.linen.ConvTranspose (before/after).')
  parser.add_argument('--full_float32', action='store_true',
                      help='GPU: no TF32 on either side (JAX precision highest, torch '
                      'allow_tf32 off); the defaults use TF32 (JAX: convs and matmuls, '
                      'torch: convs).')
  args = parser.parse_args()
  platform.use_default_xla_flags()  # as the command-line tools do
  if args.full_float32:
    jax.config.update('jax_default_matmul_precision', 'highest')
  device = torch_device(args.full_float32)
  print(f'devices: {jax.devices()}  cpu cores: {os.cpu_count()}  batch: {args.batch_size}  '
        f'XLA_FLAGS: {os.environ["XLA_FLAGS"]}')
  print(describe_devices(device))
  jax_ms, compile_s, flops = bench_jax(args.batch_size, args.steps, args.repeats)
  torch_ms = bench_torch(args.batch_size, args.steps, args.repeats, device=device)
  trainer_ms = bench_trainer(args.trainer_steps) if args.trainer_steps else None
  if trainer_ms is not None and trainer_ms <= 0:
    print(f'jax   trainer end to end: not measurable ({trainer_ms:.2f} ms/step: the run-time '
          'difference is below the noise of start-up); raise --trainer_steps')
    trainer_ms = None
  if args.flax_conv_transpose:
    layers.ConvTranspose = flax.linen.ConvTranspose
    flax_ms, _, _ = bench_jax(args.batch_size, args.steps, args.repeats)
  if args.bfloat16:
    jax_bf16_ms, _, _ = bench_jax(args.batch_size, args.steps, args.repeats, 'bfloat16')
    torch_bf16_ms = bench_torch(args.batch_size, args.steps, args.repeats, bfloat16=True,
                                device=device)
  peak = matmul_peak_gflops()
  achieved = flops / (jax_ms / 1e3) / 1e9
  print(f'jax   train step: {jax_ms:8.2f} ms/step  (first compile {compile_s:.1f} s, '
        f'{flops / 1e9:.2f} GFLOP/step by XLA cost analysis)')
  if args.flax_conv_transpose:
    print(f'jax   train step with flax.linen.ConvTranspose: {flax_ms:8.2f} ms/step  '
          f'(sub-pixel layer speed-up {flax_ms / jax_ms:.2f}x)')
  if trainer_ms:
    print(f'jax   trainer end to end: {trainer_ms:8.2f} ms/step  (logging, samples and '
          f'checkpoints at the config intervals)')
  print(f'torch train step: {torch_ms:8.2f} ms/step')
  print(f'speed ratio torch_ms / jax_ms: {torch_ms / jax_ms:.2f}x  (>1: JAX faster)')
  if trainer_ms:
    print(f'speed ratio torch_ms / trainer_ms: {torch_ms / trainer_ms:.2f}x')
  if args.bfloat16:
    print(f'bfloat16 compute: jax {jax_bf16_ms:8.2f} ms/step ({jax_ms / jax_bf16_ms:.2f}x its '
          f'float32 step), torch {device} autocast {torch_bf16_ms:8.2f} ms/step; ratio torch '
          f'float32 / jax bfloat16: {torch_ms / jax_bf16_ms:.2f}x, torch bfloat16 / jax bfloat16: '
          f'{torch_bf16_ms / jax_bf16_ms:.2f}x')
  print(f'JAX achieves {achieved:.1f} GFLOP/s = {achieved / peak:.1%} of the measured float32 '
        f'matmul peak ({peak:.1f} GFLOP/s at this run\'s precision)')


if __name__ == '__main__':
  main()
