"""Compile time of XLA:CPU's fusion emitters, as the test suite pays it (tests/conftest.py).

  python experiments/bench_compile.py          # each setting twice, each in a fresh process

Times (1) 100 eager primitives of distinct shapes (each compiled on its own, as a reference
computed op by op is) and (2) the compilation of one small train step (a DCGAN-like generator,
Adam), under the suite's `JAX_DISABLE_MOST_OPTIMIZATIONS=1`, with XLA's default MLIR fusion
emitters and with `--xla_cpu_use_fusion_emitters=false`. Compile time only: the programs' speed is
not measured here (the suite's files are, in the README's Tests section).
"""
import os
import subprocess
import sys
import time

SETTINGS = {'MLIR fusion emitters (default)': '',
            'elemental emitters': '--xla_cpu_use_fusion_emitters=false'}


def measure() -> tuple[float, float]:
  import flax.linen as nn  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import optax  # pylint: disable=g-import-not-at-top
  jax.block_until_ready(jnp.ones((1, 3)) * 2.0)  # start-up outside the timing
  start = time.perf_counter()
  for n in range(2, 52):  # 2 primitives each: broadcast (ones) and multiply
    jax.block_until_ready(jnp.ones((n, 3)) * 2.0)
  eager_ms = (time.perf_counter() - start) * 1e3 / 100

  class Generator(nn.Module):
    @nn.compact
    def __call__(self, z):
      x = nn.Dense(7 * 7 * 16)(z).reshape(-1, 7, 7, 16)
      for width in (8, 4):
        x = nn.ConvTranspose(width, (4, 4), (2, 2))(x)
        x = nn.relu(nn.BatchNorm(use_running_average=False)(x))
      return jnp.tanh(nn.Conv(1, (3, 3))(x))

  generator, z, optimizer = Generator(), jnp.ones((8, 8)), optax.adam(1e-3)
  variables = generator.init(jax.random.key(0), z)

  def step(variables, opt_state, z):
    def loss(params):
      images, _ = generator.apply({'params': params, 'batch_stats': variables['batch_stats']}, z,
                                  mutable=['batch_stats'])
      return jnp.mean(images ** 2)
    grads = jax.grad(loss)(variables['params'])
    updates, opt_state = optimizer.update(grads, opt_state, variables['params'])
    return optax.apply_updates(variables['params'], updates), opt_state

  lowered = jax.jit(step).lower(variables, optimizer.init(variables['params']), z)
  start = time.perf_counter()
  lowered.compile()
  return eager_ms, time.perf_counter() - start


def main() -> None:
  if len(sys.argv) > 1 and sys.argv[1] == '--child':
    eager_ms, step_s = measure()
    print(f'{eager_ms:.1f} {step_s:.3f}')
    return
  print('| XLA:CPU setting | run | ms per eager primitive | small train step compile (s) |')
  print('| --- | ---: | ---: | ---: |')
  for name, flag in SETTINGS.items():
    for run in (1, 2):
      env = dict(os.environ, JAX_DISABLE_MOST_OPTIMIZATIONS='1',
                 XLA_FLAGS=f'--xla_cpu_experimental_ynn_fusion_type= {flag}'.strip())
      out = subprocess.run([sys.executable, __file__, '--child'], env=env, capture_output=True,
                           text=True, check=True).stdout.split()
      print(f'| {name} | {run} | {float(out[0]):.1f} | {float(out[1]):.2f} |')


if __name__ == '__main__':
  main()
