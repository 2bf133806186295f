"""Process-wide XLA settings that the command-line tools and benchmarks apply before JAX starts.

XLA reads XLA_FLAGS once, when the first backend is created, so `use_default_xla_flags()` must
run before the first `jax.devices()` or computation. A flag the user already set is left alone.

The tools' start-up is quiet too (quiet_start_up): TensorFlow's import-time notices are dropped.
"""
import contextlib
import importlib.abc
import importlib.util
import os
import sys
import tempfile
from typing import Sequence

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


# What TensorFlow writes to file descriptor 2 while it is imported (by export and by the
# tensorflow-datasets reader), whatever TF_CPP_MIN_LOG_LEVEL says: C++ lines that read as
# failures but are not (the "oneDNN custom operations are on" notice of TF 2.21, once per library).
TENSORFLOW_START_UP_NOISE = ('oneDNN custom operations are on',
                             'All log messages before absl::InitializeLog() is called',
                             'cpu_feature_guard.cc', 'To enable the following instructions:')


@contextlib.contextmanager
def filtered_stderr(noise: Sequence[str]):
  """Runs the block with file descriptor 2 (C++ and Python alike) going to a file; afterwards
  writes back every line that contains none of the strings in `noise`."""
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as captured:
    os.dup2(captured.fileno(), 2)
    try:
      yield
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      captured.seek(0)
      lines = captured.read().decode(errors='replace').splitlines(keepends=True)
      sys.stderr.write(''.join(line for line in lines if not any(n in line for n in noise)))
      sys.stderr.flush()


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
  """Imports `tensorflow` (whoever imports it) inside filtered_stderr(TENSORFLOW_START_UP_NOISE)."""

  def find_spec(self, fullname, path=None, target=None):
    if fullname != 'tensorflow':
      return None
    for finder in sys.meta_path:  # the spec the other finders give (find_spec may only look)
      if finder is self or not hasattr(finder, 'find_spec'):
        continue
      spec = finder.find_spec(fullname, path, target)
      if spec is not None and spec.loader is not None:
        spec.loader = _FilteredLoader(spec.loader)
        return spec
    return None


class _FilteredLoader(importlib.abc.Loader):
  """`loader`, with its module executed under filtered_stderr; anything else is the loader's."""

  def __init__(self, loader):
    self._loader = loader

  def create_module(self, spec):
    return self._loader.create_module(spec)

  def exec_module(self, module):
    module.__loader__ = self._loader
    with filtered_stderr(TENSORFLOW_START_UP_NOISE):
      self._loader.exec_module(module)

  def __getattr__(self, name):
    return getattr(self._loader, name)


def quiet_start_up() -> None:
  """For the command-line tools: TensorFlow's INFO lines off unless the user set
  TF_CPP_MIN_LOG_LEVEL, and its import-time notices dropped (the tools' --verbosity=1 keeps
  both)."""
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '1')
  if 'tensorflow' not in sys.modules and not any(
      isinstance(finder, _QuietTensorFlowImport) for finder in sys.meta_path):
    sys.meta_path.insert(0, _QuietTensorFlowImport())


def missing_tensorflow(purpose: str, modules: Sequence[str] = ('tensorflow',)) -> str | None:
  """A one-line message if `modules` of the optional TensorFlow extra (`pip install -e
  '.[tf]'`: TensorFlow, tensorflow-datasets; 1.5 of the 2.4 GiB of an install without the
  tests) are not installed."""
  missing = [name for name in modules if importlib.util.find_spec(name) is None]
  if not missing:
    return None
  return (f'{purpose} needs {" and ".join(missing)}, jaxgan\'s optional TensorFlow extra: '
          "pip install -e '.[tf]' in the repository (or pip install tensorflow-cpu "
          'tensorflow-datasets).')
