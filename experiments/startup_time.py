"""Start-up time of the trainer, each measurement in a fresh Python process.

  python experiments/startup_time.py [--repeats=3] [--config=configs/dcgan.py]

Rows: imports (wall time of the `import` statement inside the child; whether TensorFlow ended
up in sys.modules), then `python -m jaxgan.main --config=... --config.train.num_steps=1` from
launch to the trainer's `step 1/1` log line (imports, flag parsing, data, state init, compiling
and running the first step) and to the process's exit (samples, checkpoint, shutdown). Prints
the median and the range over the repeats. CPU time is shared: on a busy machine the numbers
only compare within one run of this script.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_IMPORTS = ('jax', 'tensorflow', 'clu.metric_writers', 'jaxgan.training.trainer', 'jaxgan.main')
_CHILD = ('import sys, time\n'
          'start = time.perf_counter()\n'
          'import {module}\n'
          'print(time.perf_counter() - start, "tensorflow" in sys.modules)\n')


def _env():
  return dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', PYTHONPATH=REPO)


def time_import(module: str) -> tuple[float, bool]:
  """(seconds of `import module` in a fresh interpreter, whether it imported TensorFlow)."""
  result = subprocess.run([sys.executable, '-c', _CHILD.format(module=module)], cwd=REPO,
                          capture_output=True, text=True, env=_env(), check=True)
  seconds, tensorflow = result.stdout.split()
  return float(seconds), tensorflow == 'True'


def time_launch(config: str) -> tuple[float, float]:
  """(seconds from launch to the `step 1/1` log line, seconds to exit) of a one-step run."""
  with tempfile.TemporaryDirectory() as workdir:
    command = [sys.executable, '-m', 'jaxgan.main', f'--config={config}',
               '--config.train.num_steps=1', f'--workdir={workdir}']
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, env=_env())
    first_step, lines = None, []
    for line in process.stderr:
      lines.append(line)
      if first_step is None and ' step 1/1 ' in line:
        first_step = time.perf_counter() - start
    process.wait()
    total = time.perf_counter() - start
  if process.returncode != 0 or first_step is None:
    raise RuntimeError(f'{" ".join(command)} failed:\n{"".join(lines[-20:])}')
  return first_step, total


def _row(name: str, values: list[float], note: str = '') -> str:
  return (f'| {name:<44} | {statistics.median(values):7.2f} | {min(values):5.2f}-'
          f'{max(values):<5.2f} | {note:<14} |')


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--repeats', type=int, default=3)
  parser.add_argument('--config', default='configs/dcgan.py')
  args = parser.parse_args()
  header = 'measurement (fresh process each)'
  print(f'| {header:<44} | median  | range s     | TensorFlow     |')
  print(f'|{"-" * 46}|---------|-------------|{"-" * 16}|')
  for module in _IMPORTS:
    runs = [time_import(module) for _ in range(args.repeats)]
    print(_row(f'import {module}', [s for s, _ in runs],
               'imported' if runs[0][1] else 'not imported'), flush=True)
  runs = [time_launch(args.config) for _ in range(args.repeats)]
  print(_row(f'jaxgan.main {os.path.basename(args.config)}: launch to step 1',
             [first for first, _ in runs]))
  print(_row(f'jaxgan.main {os.path.basename(args.config)}: launch to exit',
             [total for _, total in runs]))


if __name__ == '__main__':
  main()
