"""The command-line tools end to end: SIGKILL mid-run and resume, the sample CLI, one-line errors
and a start-up that does not import TensorFlow."""
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from PIL import Image

import jaxgan
from conftest import REPO, final_state, run_in_process, run_module, tiny_dcgan_config
from conftest import tiny_dcgan_flags
from jaxgan.data import images as image_lib
from jaxgan import families
from jaxgan.training import checkpoints
from jaxgan.training import mesh as mesh_lib
from jaxgan.training import trainer as train

NUM_STEPS = 100  # 5 checkpoints: the kill lands after the 1st, with 80 steps (~2 s) to spare
KILLED_RUN = dict(train__num_steps=NUM_STEPS, train__checkpoint_every=20, train__log_every=50,
                  train__sample_every=NUM_STEPS)


def _main_command(workdir):
  return [sys.executable, '-m', 'jaxgan.main', *tiny_dcgan_flags(**KILLED_RUN),
          f'--workdir={workdir}']


def _complete_steps(workdir):
  directory = os.path.join(workdir, 'checkpoints')
  if not os.path.isdir(directory):
    return []
  return sorted(int(name) for name in os.listdir(directory) if name.isdigit())


@pytest.mark.slow
def test_sigkill_then_rerun_equals_uninterrupted_run(tmp_path):
  straight, killed = str(tmp_path / 'straight'), str(tmp_path / 'killed')
  config = tiny_dcgan_config(**KILLED_RUN)
  train.train_and_evaluate(config, straight)  # the uninterrupted run, in this process

  process = subprocess.Popen(_main_command(killed), cwd=REPO, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
  deadline = time.time() + 240
  while not [s for s in _complete_steps(killed) if s >= 20] and time.time() < deadline:
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
  for a, b in zip(jax.tree.leaves(final_state(straight, config)),
                  jax.tree.leaves(final_state(killed, config))):
    np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_sample_cli_writes_grid_and_interpolation(tmp_path, trained_run, tiny_config):
  workdir = trained_run(tiny_config)
  grid_path, strip_path = str(tmp_path / 'grid.png'), str(tmp_path / 'strip.png')
  result = run_module('jaxgan.sample', f'--workdir={workdir}', '--num=9', f'--out={grid_path}')
  assert result.returncode == 0, result.stderr[-2000:]
  grid = np.asarray(Image.open(grid_path))
  assert grid.shape == (3 * 30 + 2, 3 * 30 + 2)  # 3x3 tiles of 28 px with 2 px padding
  model = jaxgan.load(workdir)  # the default --seed=0, squeezed to the PNG's grey
  np.testing.assert_array_equal(grid, image_lib.make_grid(model.sample(9, seed=0))[..., 0])
  result = run_module('jaxgan.sample', f'--workdir={workdir}', '--num=2', '--frames=5',
                      '--interpolate', f'--out={strip_path}')
  assert result.returncode == 0, result.stderr[-2000:]
  strips = model.interpolate(2, 5, seed=0)
  np.testing.assert_array_equal(
      np.asarray(Image.open(strip_path)),
      image_lib.make_grid(strips.reshape(-1, *strips.shape[2:]), columns=5)[..., 0])


def test_sample_cli_without_checkpoint_is_a_clear_error(tmp_path, capsys):
  code = run_in_process('jaxgan.sample', f'--workdir={tmp_path}', f'--out={tmp_path}/g.png')
  assert code == 1
  assert 'config.json does not exist' in capsys.readouterr().err


def _free_port() -> int:
  import socket  # pylint: disable=g-import-not-at-top
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_match_one_process_with_the_same_devices(tmp_path, tiny_config,
                                                               trained_run):
  """2 processes x 2 CPU devices (jax.distributed on 127.0.0.1, gloo) on a data=2 x fsdp=2 mesh
  (state split over each process's two devices) == 1 process x 4 devices on data=4 (the shared
  run); the processes write one checkpoint per step between them."""
  workdir = str(tmp_path / 'two_hosts')
  command = [sys.executable, '-m', 'jaxgan.main', *tiny_dcgan_flags(), f'--workdir={workdir}',
             '--config.mesh.fsdp=2', '--config.mesh.min_sharded_bytes=0',
             '--distributed', f'--coordinator_address=127.0.0.1:{_free_port()}',
             '--num_processes=2']
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=2')
  processes = [subprocess.Popen(command + [f'--process_id={i}'], cwd=REPO, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
               for i in range(2)]
  for process in processes:
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-2000:]
  assert sorted(os.listdir(os.path.join(workdir, 'checkpoints'))) == ['10', '5']
  single = final_state(trained_run(tiny_config), tiny_config)
  for a, b in zip(jax.tree.leaves(final_state(workdir, tiny_config)), jax.tree.leaves(single)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_damaged_checkpoint_is_one_fatal_line(tmp_path, tiny_config, capsys):
  """Checkpoints of steps 2 and 4 written directly (no training); bytes flipped in every file
  of step 4's state: the run stops with one line naming step 4 and the way back to step 2."""
  workdir = tmp_path / 'run'
  family = families.make(tiny_config)
  state = families.init_state(family, mesh_lib.make_mesh())
  checkpointer = checkpoints.Checkpointer(str(workdir / 'checkpoints'), family.fingerprint(), 3)
  for step in (2, 4):
    checkpointer.save(step, state, data_position=step)
  checkpointer.wait_until_finished()
  checkpointer.close()
  damaged = workdir / 'checkpoints' / '4'
  for path in (damaged / 'state').rglob('*'):
    if path.is_file():
      data = bytearray(path.read_bytes())
      data[len(data) // 2] ^= 0xFF
      path.write_bytes(bytes(data))
  code = run_in_process('jaxgan.main', *tiny_dcgan_flags(), f'--workdir={workdir}')
  err = capsys.readouterr().err
  fatal = [line for line in err.splitlines() if line.startswith('FATAL')]
  assert len(fatal) == 1 and 'Traceback' not in err, err[-3000:]
  assert code == 1
  assert fatal[0].startswith(f'FATAL CheckpointError: Checkpoint {damaged} ')
  assert 'damaged' in fatal[0] and 'to resume from step 2,' in fatal[0]


def test_import_main_does_not_import_tensorflow():
  code = ('import sys, jaxgan.main; print(sorted({m.split(".")[0] for m in sys.modules} & '
          '{"tensorflow", "tensorflow_datasets", "keras", "torch"}))')
  result = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True,
                          text=True, timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.strip() == '[]', result.stdout
