"""jaxgan.training.preemption on its own: handlers only between install and restore, a signal
recorded for the trainer to stop after its step, a second signal ending the process at once."""
import os
import signal
import subprocess
import sys

from conftest import REPO
from jaxgan.training import preemption


def test_a_signal_is_recorded_and_the_handlers_are_restored():
  before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
  stop = preemption.StopOnSignal().install()
  try:
    assert not stop.requested(1)
    os.kill(os.getpid(), signal.SIGTERM)  # handled by the time os.kill returns to Python
    assert stop.requested(2) and stop.signum == signal.SIGTERM
  finally:
    stop.restore()
  assert {s: signal.getsignal(s) for s in before} == before
  assert preemption.exit_code(signal.SIGINT) == 130 and preemption.exit_code(signal.SIGTERM) == 143


def test_a_second_signal_exits_at_once_with_its_code():
  code = ('import os, signal, time\n'
          'from jaxgan.training import preemption\n'
          'stop = preemption.StopOnSignal().install()\n'
          'os.kill(os.getpid(), signal.SIGINT)\n'
          'print("first recorded", stop.signum == signal.SIGINT, flush=True)\n'
          'os.kill(os.getpid(), signal.SIGINT)\n'
          'time.sleep(60)\n')
  result = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=False)
  assert result.returncode == 130, result.stderr[-2000:]
  assert result.stdout == 'first recorded True\n'
  assert result.stderr.splitlines()[-1] == ('SIGINT again: exiting now, without a checkpoint '
                                            'of this step.')
