"""Test setup: 4 simulated CPU devices and a persistent XLA compilation cache (both set before
jax is imported, and inherited by the command lines the tests start), shrunk real configs, and
tiny runs trained once per session."""
import atexit
import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

os.environ['XLA_FLAGS'] = ' '.join(
    [os.environ.get('XLA_FLAGS', ''), '--xla_force_host_platform_device_count=4']).strip()
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# The command lines' XLA flags here too: in-process references then equal what a command line
# computes bit for bit, and both share the compilation cache.
from jaxgan import platform  # pylint: disable=g-import-not-at-top  (imports no jax)
platform.use_default_xla_flags()
# XLA:CPU's older elemental emitters compile faster than its MLIR fusion emitters (a small train
# step 0.5 -> 0.14 s: experiments/bench_compile.py), and compiling is most of the suite's time.
# Tests only: the tools keep XLA's default.
if 'xla_cpu_use_fusion_emitters' not in os.environ['XLA_FLAGS']:
  os.environ['XLA_FLAGS'] += ' --xla_cpu_use_fusion_emitters=false'
# Every compiled program is cached on disk, so the many tests (and subprocesses) that compile the
# same tiny step pay once. A fresh directory per session unless JAX_COMPILATION_CACHE_DIR is set
# (set it to keep the cache between sessions; the keys hash the program and the XLA flags).
if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
  os.environ['JAX_COMPILATION_CACHE_DIR'] = tempfile.mkdtemp(prefix='jaxgan-test-xla-')
  atexit.register(shutil.rmtree, os.environ['JAX_COMPILATION_CACHE_DIR'], ignore_errors=True)
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0')
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES', '0')
# The tests' programs are tiny: XLA's backend optimizations cost more than they save (README,
# Tests: ten zoo configs' compiled steps 145 s -> 88 s). Set it to 0 to test optimized code.
os.environ.setdefault('JAX_DISABLE_MOST_OPTIMIZATIONS', '1')

import pytest  # pylint: disable=g-import-not-at-top

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DCGAN_CONFIG = os.path.join(REPO, 'configs', 'dcgan.py')

# The shrink applied to configs/dcgan.py in tests: tiny widths, batch 8, a few steps.
TINY_DCGAN = {
    'model.generator_widths': (16, 8, 4),
    'model.discriminator_widths': (4, 8),
    'model.latent_dim': 8,
    'train.batch_size': 8,
    'train.num_steps': 10,
    'train.log_every': 5,
    'train.checkpoint_every': 5,
    'train.sample_every': 5,
    'train.num_sample_images': 4,
}


def override(config, dotted: str, value) -> None:
  *parents, leaf = dotted.split('.')
  node = config
  for name in parents:
    node = node[name]
  node[leaf] = value


def shrunk_config(config_file: str, shrink: dict, arg: str | None = None, **overrides):
  """configs/<config_file>[:arg] with the dotted fields of `shrink` set, then `overrides`
  ('train__num_steps'=3 style): the real config, made small enough for a test."""
  from jaxgan import config_lib  # pylint: disable=g-import-not-at-top
  path = os.path.join(REPO, 'configs', config_file)
  config = config_lib.load_config(path + (f':{arg}' if arg else ''))
  for dotted, value in shrink.items():
    override(config, dotted, value)
  for key, value in overrides.items():
    override(config, key.replace('__', '.'), value)
  return config


def tiny_dcgan_config(arg: str | None = None, **overrides):
  """configs/dcgan.py shrunk by TINY_DCGAN, then `overrides` ('train__num_steps'=3 style)."""
  return shrunk_config('dcgan.py', TINY_DCGAN, arg, **overrides)


def run_compiled_steps(config, num_steps: int, devices=None):
  """The trainer's compiled step `num_steps` times on `devices` (default: all) from a fresh
  state: (final state, per-step metrics on the host, the jitted step function)."""
  from jaxgan.training import trainer as train  # pylint: disable=g-import-not-at-top
  return train.run_steps(config, num_steps, devices)


def tiny_dcgan_flags(**overrides) -> list[str]:
  """The same shrink as command-line flags for `python -m jaxgan.main`."""
  values = dict(TINY_DCGAN, **{k.replace('__', '.'): v for k, v in overrides.items()})
  return [f'--config={DCGAN_CONFIG}'] + [
      f'--config.{k}={v}'.replace(' ', '') for k, v in values.items()]


def run_module(module: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
  """Runs `python -m module args` from the repo root with the test environment: the real
  command line, for the one end-to-end test of each tool (the rest use run_in_process)."""
  return subprocess.run([sys.executable, '-m', module, *args], cwd=REPO, capture_output=True,
                        text=True, timeout=timeout, env=dict(os.environ), check=False)


def run_in_process(module: str, *args: str) -> int:
  """`python -m module args` in this process, as absl's app.run would run it: the tool's flags
  defined for this call only, parsed (with the tool's own parser if it has one), then its main.
  Returns the exit code; what it printed is in pytest's capsys/capfd. Saves a Python start-up,
  imports and compilations per call over run_module, for tests of refusals and messages."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  tool = importlib.import_module(module)
  defined = set(flags.FLAGS)
  tool.define_flags()
  argv = [module, *args]
  saved_argv, sys.argv = sys.argv, argv  # config_flags reads `--config.*` overrides from it
  try:
    try:
      argv = tool.parse_flags(argv) if hasattr(tool, 'parse_flags') else flags.FLAGS(argv)
    except flags.Error as e:  # what app.run prints for a flag it cannot parse
      sys.stderr.write(f'FATAL Flags parsing error: {e}\n')
      return 1
    tool.main(argv)
  except SystemExit as e:
    return 0 if e.code is None else e.code
  finally:
    sys.argv = saved_argv
    flags.FLAGS.unparse_flags()
    for name in set(flags.FLAGS) - defined:
      delattr(flags.FLAGS, name)
  return 0


def straight_and_resumed(config, root) -> tuple[str, str]:
  """Workdirs under `root` of `config` (checkpointed every step, all kept) trained straight to
  train.num_steps, and of a copy without its last checkpoint resumed from the one before (what
  a kill after that save leaves)."""
  from jaxgan.training import trainer as train  # pylint: disable=g-import-not-at-top
  straight, resumed = os.path.join(root, 'straight'), os.path.join(root, 'resumed')
  train.train_and_evaluate(config, straight)
  shutil.copytree(straight, resumed)
  shutil.rmtree(os.path.join(resumed, 'checkpoints', str(config.train.num_steps)))
  train.train_and_evaluate(config, resumed)
  return straight, resumed


class CompileCounter:
  """Counts XLA compilations (jax's backend-compile events) of functions whose name contains
  `name` (default: the trainer's step) inside a `with` block."""

  def __init__(self, name: str = '_accumulating_step'):
    self.name, self.count = name, 0

  def __call__(self, event, duration, **kwargs):
    from jax._src import dispatch  # pylint: disable=g-import-not-at-top
    del duration
    if event == dispatch.BACKEND_COMPILE_EVENT and self.name in kwargs.get('fun_name', ''):
      self.count += 1

  def __enter__(self):
    from jax._src import monitoring  # pylint: disable=g-import-not-at-top
    monitoring.register_event_duration_secs_listener(self)
    return self

  def __exit__(self, *exc):
    from jax._src import monitoring  # pylint: disable=g-import-not-at-top
    monitoring.unregister_event_duration_listener(self)


def final_state(workdir: str, config):
  """The state of the latest checkpoint in `workdir`, on the host."""
  import jax  # pylint: disable=g-import-not-at-top
  from jaxgan import families  # pylint: disable=g-import-not-at-top
  from jaxgan.training import checkpoints  # pylint: disable=g-import-not-at-top
  from jaxgan.training import mesh as mesh_lib  # pylint: disable=g-import-not-at-top
  family = families.make(config)
  checkpointer = checkpoints.Checkpointer(os.path.join(workdir, 'checkpoints'),
                                          family.fingerprint(), 10)
  state, _ = checkpointer.restore(families.init_state(family, mesh_lib.make_mesh()))
  checkpointer.close()
  return jax.device_get(state)


@pytest.fixture
def tiny_config():
  return tiny_dcgan_config()


def _tree_digest(directory: str) -> str:
  """sha1 over the relative paths and bytes of every file under `directory`."""
  digest = hashlib.sha1()
  for root, dirs, names in os.walk(directory):
    dirs.sort()
    for name in sorted(names):
      path = os.path.join(root, name)
      digest.update(os.path.relpath(path, directory).encode())
      with open(path, 'rb') as f:
        digest.update(f.read())
  return digest.hexdigest()


@pytest.fixture(scope='session')
def trained_run(tmp_path_factory):
  """trained_run(config, copy_to=None): the workdir of `config` trained by the trainer, trained
  once per session for every test that asks for the same config. Tests only read it; a test that
  writes (resumes, damages, evaluates into it) passes `copy_to` and gets a private copy there.
  At the end of the session every shared run must be byte-for-byte as trained."""
  from jaxgan.training import trainer as train  # pylint: disable=g-import-not-at-top
  runs = {}

  def get(config, copy_to: str | None = None) -> str:
    key = hashlib.sha1(config.to_json().encode()).hexdigest()[:12]
    if key not in runs:
      workdir = str(tmp_path_factory.mktemp(f'run_{key}'))
      train.train_and_evaluate(config, workdir)
      runs[key] = workdir, _tree_digest(workdir)
    workdir = runs[key][0]
    if copy_to is None:
      return workdir
    shutil.copytree(workdir, copy_to)
    return str(copy_to)

  yield get
  changed = [workdir for workdir, digest in runs.values() if _tree_digest(workdir) != digest]
  assert not changed, f'tests wrote into shared runs {changed}; give them copy_to'


# Where compilation time goes: `JAXGAN_COMPILE_PROFILE=FILE python -m pytest -q tests` prints the
# session's totals of jax.monitoring's compile events (tracing, lowering, XLA compilation) and
# writes each test's to FILE as JSON. The suite's test processes only, not its subprocesses;
# serially only (without -n: xdist workers report no terminal summary).
_COMPILE_EVENTS = ('jaxpr_trace_duration', 'jaxpr_to_mlir_module_duration',
                   'backend_compile_duration')
_compile_profile: dict = {}
_current_test = ['(collection)']


def pytest_configure(config):
  del config
  if os.environ.get('JAXGAN_COMPILE_PROFILE'):
    import jax  # pylint: disable=g-import-not-at-top
    jax.monitoring.register_event_duration_secs_listener(_record_compile_event)


def _record_compile_event(event: str, duration: float, **_) -> None:
  name = event.rsplit('/', 1)[-1]
  if name in _COMPILE_EVENTS:
    test = _compile_profile.setdefault(_current_test[0], dict.fromkeys(_COMPILE_EVENTS, 0.0))
    test[name] += duration
    if name == 'backend_compile_duration':
      test['compilations'] = test.get('compilations', 0) + 1


def pytest_runtest_logstart(nodeid, location):
  del location
  _current_test[0] = nodeid


def pytest_terminal_summary(terminalreporter):
  path = os.environ.get('JAXGAN_COMPILE_PROFILE')
  if not path:
    return
  for name in (*_COMPILE_EVENTS, 'compilations'):
    total = sum(test.get(name, 0) for test in _compile_profile.values())
    terminalreporter.write_line(f'compile profile: {name} '
                                + (f'{total}' if name == 'compilations' else f'{total:.1f} s'))
  with open(path, 'w') as f:
    json.dump(_compile_profile, f, indent=1)
