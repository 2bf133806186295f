"""Progress lines of long evaluation loops: throttling, numbers, and a real held-out pass."""
import logging

from conftest import shrunk_config
from jaxgan.evaluation import heldout
from jaxgan.evaluation import progress
from jaxgan import families
from jaxgan.training import mesh as mesh_lib


class FakeClock:
  def __init__(self):
    self.now = 100.0

  def __call__(self):
    return self.now


def _lines(calls):
  """The logged lines of log(format, *args) calls."""
  return [call[0] % call[1:] for call in calls]


def test_lines_are_throttled_and_report_count_rate_and_eta():
  clock, calls = FakeClock(), []
  tracker = progress.Progress('features', 1000, interval_s=10.0, clock=clock,
                              log=lambda *args: calls.append(args))
  for done, now in ((100, 104.0), (200, 108.0), (300, 112.0), (400, 115.0), (500, 125.0)):
    clock.now = now
    tracker.update(done)
  # Due at 112 (12 s after the start: 300 images, 25/s, 700 left = 28 s) and at 125 (13 s
  # after the last line: 500 images in 25 s = 20/s, 500 left = 25 s); not at 104, 108, 115.
  assert _lines(calls) == ['features: 300/1000 images, 25.0 images/s, ETA 0:00:28',
                           'features: 500/1000 images, 20.0 images/s, ETA 0:00:25']
  clock.now = 100.0 + 3725.0
  tracker.update(1000)  # the final line is always written, with the total time
  assert _lines(calls)[-1] == 'features: 1000/1000 images in 1:02:05 (0.3 images/s)'


def test_host_runs_at_most_two_batches_ahead_and_waits_for_all_when_a_line_is_due(monkeypatch):
  waited, clock = [], FakeClock()
  monkeypatch.setattr(progress.jax, 'block_until_ready', waited.append)
  tracker = progress.Progress('x', 10, interval_s=10.0, clock=clock, log=lambda *a: None)
  for done, batch in enumerate(['a', 'b', 'c'], start=1):
    tracker.update(done, batch)
  assert waited == ['a']  # the third dispatch waits for the first
  clock.now += 10.0
  tracker.update(4, 'd')  # 'b' leaves the window; the line is due, so 'c' and 'd' are waited for
  assert waited == ['a', 'b', ['c', 'd']]
  tracker.update(10, 'last')
  assert waited[-1] == ['last']


def test_heldout_pass_logs_its_progress(monkeypatch, caplog):
  monkeypatch.setattr(progress, 'INTERVAL_S', 0.0)  # a line per batch
  config = shrunk_config('pixelcnn.py', {'model.features': 4, 'model.num_layers': 2,
                                         'model.first_kernel_size': 3, 'model.output_hidden': 8,
                                         'eval.heldout.batch_size': 200})
  family = families.make(config)
  mesh = mesh_lib.make_mesh()
  evaluator = heldout.HeldOutEvaluator('heldout', config.eval.heldout, config, family, mesh)
  # absl's own logger: its level is whatever absl's flags (parsed by an earlier in-process CLI
  # test) left it at.
  with caplog.at_level(logging.INFO, logger='absl'):
    evaluator(families.init_state(family, mesh), 0)
  lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith('heldout:')]
  assert [line.split(',')[0].split(' in ')[0] for line in lines] == [
      "heldout: 'test' split: 200/500 examples", "heldout: 'test' split: 400/500 examples",
      "heldout: 'test' split: 500/500 examples"]
  assert 'examples/s, ETA' in lines[0] and lines[-1].endswith('examples/s)')

