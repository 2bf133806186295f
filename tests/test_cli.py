"""The command-line tools end to end: SIGKILL mid-run and resume, the sample CLI, one-line errors
and a start-up that does not import TensorFlow."""
import os
import re
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


@pytest.fixture(scope='module')
def uninterrupted_state(tmp_path_factory):
  """The final state of KILLED_RUN trained straight through, in this process: the reference of
  every interrupted-and-resumed run here."""
  config, workdir = tiny_dcgan_config(**KILLED_RUN), str(tmp_path_factory.mktemp('straight'))
  train.train_and_evaluate(config, workdir)
  return final_state(workdir, config)


def _assert_equal_states(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    np.testing.assert_array_equal(x, y)


def _assert_quiet_with_a_summary(stderr, workdir, first_step):
  """No start-up noise (JAX's search for a TPU, TensorFlow's notices); the run ends with where
  everything is, in full."""
  assert not [line for line in stderr.splitlines() if 'libtpu' in line or 'oneDNN' in line]
  summary = stderr[stderr.index('Trained steps '):].splitlines()
  assert re.fullmatch(rf'Trained steps {first_step}\.\.{NUM_STEPS} in \d\d:\d\d:\d\d '
                      r'\(compilation included\)\.', summary[0]), summary[0]
  assert summary[1].startswith('  Last metrics (means since the previous log step): ')
  assert 'generator_loss=' in summary[1]
  events = [name for name in os.listdir(workdir) if name.startswith('events.out.tfevents')]
  assert summary[2:] == [f'  checkpoints: {workdir}/checkpoints (latest: step {NUM_STEPS})',
                         f'  sample grids: {workdir}/samples',
                         f'  events (TensorBoard): {workdir}/{sorted(events)[-1]}']


@pytest.mark.slow
def test_sigkill_then_rerun_equals_uninterrupted_run(tmp_path, uninterrupted_state):
  killed = str(tmp_path / 'killed')
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
  _assert_quiet_with_a_summary(result.stderr, killed, steps_at_kill[-1] + 1)
  _assert_equal_states(uninterrupted_state, final_state(killed, tiny_dcgan_config(**KILLED_RUN)))


@pytest.mark.slow
@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM])
def test_signal_saves_the_step_reached_and_rerun_equals_uninterrupted_run(
    tmp_path, uninterrupted_state, signum):
  """Ctrl-C or a scheduler's SIGTERM after the first step: the step in flight ends, a checkpoint
  of it is saved, one line says so and the exit code is 128 + the signal's number; resuming
  ends bitwise where the uninterrupted run does."""
  workdir = str(tmp_path / 'stopped')
  process = subprocess.Popen(_main_command(workdir), cwd=REPO, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
  before = []
  for line in process.stderr:  # wait for the first step
    before.append(line)
    if 'Step 1 done' in line:
      break
  process.send_signal(signum)
  sent = time.time()
  _, after = process.communicate(timeout=120)
  assert time.time() - sent < 30
  assert process.returncode == 128 + signum, ''.join(before)[-2000:] + after[-2000:]
  assert 'Traceback' not in after
  stopped = [line for line in after.splitlines() if line.startswith('stopped at step')]
  assert len(stopped) == 1 and stopped == after.splitlines()[-1:], after[-2000:]
  step = _complete_steps(workdir)[-1]
  assert 1 <= step < NUM_STEPS
  assert stopped[0] == (f'stopped at step {step}; checkpoint written to '
                        f'{workdir}/checkpoints/{step}; rerun the same command to resume')

  config = tiny_dcgan_config(**KILLED_RUN)
  train.train_and_evaluate(config, workdir)  # the rerun, in this process (same programs)
  _assert_equal_states(uninterrupted_state, final_state(workdir, config))


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
def test_two_processes_stop_together_and_match_one_process(tmp_path, uninterrupted_state):
  """KILLED_RUN on 2 processes x 2 CPU devices (jax.distributed on 127.0.0.1, gloo) on a
  data=2 x fsdp=2 mesh (the state split over each process's two devices): SIGTERM to one process
  stops both at the same step (JAX's pre-emption sync point) with one checkpoint between them;
  resumed from it by 1 process x 4 devices on data=4 (another mesh shape), it ends where the
  uninterrupted run does."""
  workdir = str(tmp_path / 'two_hosts')
  command = [*_main_command(workdir), '--config.mesh.fsdp=2',
             '--config.mesh.min_sharded_bytes=0', '--distributed',
             f'--coordinator_address=127.0.0.1:{_free_port()}', '--num_processes=2']
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=2')
  processes = [subprocess.Popen(command + [f'--process_id={i}'], cwd=REPO, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
               for i in range(2)]
  for line in processes[1].stderr:  # wait for the first step
    if 'Step 1 done' in line:
      break
  processes[1].send_signal(signal.SIGTERM)
  last_lines = []
  for process in processes:
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 143, stderr[-2000:]
    last_lines.append(stderr.splitlines()[-1])
  step = _complete_steps(workdir)[-1]
  assert 1 <= step < NUM_STEPS
  assert last_lines == [f'stopped at step {step}; checkpoint written to {workdir}/checkpoints/'
                        f'{step}; rerun the same command to resume'] * 2
  config = tiny_dcgan_config(**KILLED_RUN)
  train.train_and_evaluate(config, workdir)
  for a, b in zip(jax.tree.leaves(final_state(workdir, config)),
                  jax.tree.leaves(uninterrupted_state), strict=True):
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


def test_ctrl_c_in_eval_is_one_line_and_results_stay_whole(tmp_path, monkeypatch, capsys):
  """results.json is replaced whole or not at all: Ctrl-C while writing it keeps the previous
  file byte for byte and leaves no partial file; jaxgan.eval then says so in one line."""
  from jaxgan import eval as eval_tool  # pylint: disable=g-import-not-at-top
  from jaxgan.evaluation import results as results_lib  # pylint: disable=g-import-not-at-top
  results_lib.record_results(str(tmp_path), 5, {'fid': 1.5}, {}, source='eval')
  path = results_lib.results_path(str(tmp_path))
  before = open(path, 'rb').read()

  def interrupted_dump(obj, f, **kwargs):
    f.write('{"10": {"ste')  # part of the file, then Ctrl-C
    raise KeyboardInterrupt
  monkeypatch.setattr(results_lib.json, 'dump', interrupted_dump)
  monkeypatch.setattr(eval_tool, 'evaluate_run', lambda *args: results_lib.record_results(
      str(tmp_path), 10, {'fid': 1.0}, {}, source='eval'))
  code = run_in_process('jaxgan.eval', f'--workdir={tmp_path}')
  assert code == 130
  assert capsys.readouterr().err.splitlines() == [
      f'interrupted; {path} holds the evaluations that finished, each written whole']
  assert open(path, 'rb').read() == before and os.listdir(os.path.dirname(path)) == ['results.json']
