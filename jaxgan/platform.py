"""Process-wide XLA settings that the command-line tools and benchmarks apply before JAX starts.

XLA reads XLA_FLAGS once, when the first backend is created, so `use_default_xla_flags()` must
run before the first `jax.devices()` or computation. A flag the user already set is left alone.
"""
import os

# XLA:CPU sends convolutions to YNNPACK fusions by default; on the 2-core AMD EPYC machines of
# this project its Eigen convolutions (multi-threaded within each op) make the reference DCGAN
# train step ~12% faster (experiments/bench_dcgan.py). GPUs and TPUs ignore it.
DEFAULT_XLA_FLAGS = ('--xla_cpu_experimental_ynn_fusion_type=',)


def use_default_xla_flags() -> None:
  flags = os.environ.get('XLA_FLAGS', '')
  for flag in DEFAULT_XLA_FLAGS:
    if flag.split('=')[0] not in flags:
      flags = f'{flags} {flag}'.strip()
  os.environ['XLA_FLAGS'] = flags
