"""The command-line tools end to end: SIGKILL mid-run and resume, and the sample CLI."""
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
from PIL import Image

from conftest import REPO, final_state, run_module, tiny_dcgan_config, tiny_dcgan_flags
from jaxgan import train

NUM_STEPS = 400


def _main_command(workdir):
  flags = tiny_dcgan_flags(train__num_steps=NUM_STEPS, train__checkpoint_every=20,
                           train__log_every=100, train__sample_every=NUM_STEPS)
  return [sys.executable, '-m', 'jaxgan.main', *flags, f'--workdir={workdir}']


def _complete_steps(workdir):
  directory = os.path.join(workdir, 'checkpoints')
  if not os.path.isdir(directory):
    return []
  return sorted(int(name) for name in os.listdir(directory) if name.isdigit())


def test_sigkill_then_rerun_equals_uninterrupted_run(tmp_path):
  straight, killed = str(tmp_path / 'straight'), str(tmp_path / 'killed')
  result = subprocess.run(_main_command(straight), cwd=REPO, capture_output=True, text=True,
                          timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-2000:]

  process = subprocess.Popen(_main_command(killed), cwd=REPO, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
  deadline = time.time() + 240
  while not [s for s in _complete_steps(killed) if s >= 40] and time.time() < deadline:
    assert process.poll() is None, 'the run ended before it could be killed'
    time.sleep(0.01)
  process.send_signal(signal.SIGKILL)
  process.wait()
  steps_at_kill = _complete_steps(killed)
  assert steps_at_kill and steps_at_kill[-1] < NUM_STEPS, steps_at_kill

  result = subprocess.run(_main_command(killed), cwd=REPO, capture_output=True, text=True,
                          timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  assert 'Resumed from' in result.stderr
  config = tiny_dcgan_config(train__num_steps=NUM_STEPS)
  for a, b in zip(jax.tree.leaves(final_state(straight, config)),
                  jax.tree.leaves(final_state(killed, config))):
    np.testing.assert_array_equal(a, b)


def test_sample_cli_writes_grid_and_interpolation(tmp_path, tiny_config):
  workdir = str(tmp_path / 'run')
  train.train_and_evaluate(tiny_config, workdir)
  grid_path, strip_path = str(tmp_path / 'grid.png'), str(tmp_path / 'strip.png')
  result = run_module('jaxgan.sample', f'--workdir={workdir}', '--num=9', f'--out={grid_path}')
  assert result.returncode == 0, result.stderr[-2000:]
  grid = np.asarray(Image.open(grid_path))
  assert grid.shape == (3 * 30 + 2, 3 * 30 + 2)  # 3x3 tiles of 28 px with 2 px padding
  assert grid.std() > 0
  result = run_module('jaxgan.sample', f'--workdir={workdir}', '--num=2', '--frames=5',
                      '--interpolate', f'--out={strip_path}')
  assert result.returncode == 0, result.stderr[-2000:]
  assert np.asarray(Image.open(strip_path)).shape == (2 * 30 + 2, 5 * 30 + 2)


def test_sample_cli_without_checkpoint_is_a_clear_error(tmp_path):
  result = run_module('jaxgan.sample', f'--workdir={tmp_path}', f'--out={tmp_path}/g.png')
  assert result.returncode == 1
  assert 'config.json does not exist' in result.stderr


def _free_port() -> int:
  import socket  # pylint: disable=g-import-not-at-top
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def test_two_processes_match_one_process_with_the_same_devices(tmp_path, tiny_config):
  """2 processes x 2 CPU devices (jax.distributed on 127.0.0.1, gloo) == 1 process x 4 devices."""
  workdir = str(tmp_path / 'two_hosts')
  command = [sys.executable, '-m', 'jaxgan.main', *tiny_dcgan_flags(), f'--workdir={workdir}',
             '--distributed', f'--coordinator_address=127.0.0.1:{_free_port()}',
             '--num_processes=2']
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=2')
  processes = [subprocess.Popen(command + [f'--process_id={i}'], cwd=REPO, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
               for i in range(2)]
  for process in processes:
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-2000:]
  single = train.train_and_evaluate(tiny_config, str(tmp_path / 'one_host'))
  for a, b in zip(jax.tree.leaves(final_state(workdir, tiny_config)),
                  jax.tree.leaves(jax.device_get(single))):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
