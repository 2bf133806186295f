"""What the experiment scripts share: results that survive a kill, timed training runs, and the
digit scores (classifier accuracy, KID) of the image-to-image tables.

Results live in one JSON file per script, rewritten (atomically) after every finished step, so
a killed sweep keeps what it finished and a rerun skips it.
"""
import json
import os
import subprocess
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_results(path: str) -> dict:
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    return json.load(f)


def save_results(results: dict, path: str) -> None:
  with open(path + '.tmp', 'w') as f:
    json.dump(results, f, indent=1)
  os.replace(path + '.tmp', path)


def train_run(name: str, config: str, flags: list[str], root: str, results: dict,
              path: str) -> str:
  """Trains run `name` (configs/`config` with `flags`) in root/name to its num_steps with
  `python -m jaxgan.main`, timing it; a finished run is skipped, an interrupted one resumes
  (its time adds up). Returns the workdir."""
  workdir = os.path.join(root, name)
  entry = results.setdefault('train', {}).setdefault(name, {'seconds': 0.0})
  if entry.get('finished'):
    return workdir
  command = [sys.executable, '-m', 'jaxgan.main', f'--config={REPO}/configs/{config}',
             f'--workdir={workdir}', *flags]
  print('$', ' '.join(command), flush=True)
  start = time.perf_counter()
  subprocess.run(command, check=True)
  entry['seconds'] += time.perf_counter() - start
  entry['finished'] = True
  entry['command'] = ' '.join(command[1:]).replace(REPO + '/', '')
  save_results(results, path)
  return workdir


def mean_std(values: list[float]) -> str:
  """'mean ± std' (population std over seeds), or the value alone for one seed."""
  if len(values) == 1:
    return f'{values[0]:.4g}'
  std = np.std(values)
  return f'{np.mean(values):.4g} ± {std if std > 1e-9 * abs(np.mean(values)) else 0:.2g}'


class DigitScores:
  """Classifier accuracy (the FCN-score analogue of Isola et al.) and KID against the real
  mnist_5k test digits, for uint8 digit images [N, 32, 32, 1] or [N, 28, 28, 1]."""

  def __init__(self, labels: np.ndarray, real: np.ndarray):
    import jax  # pylint: disable=g-import-not-at-top
    from jaxgan.training import mesh as mesh_lib  # pylint: disable=g-import-not-at-top
    from jaxgan.evaluation import digit_classifier  # pylint: disable=g-import-not-at-top
    from jaxgan.evaluation import sample_quality  # pylint: disable=g-import-not-at-top
    self.labels = labels
    self.classifier = digit_classifier.load()
    self.inception = sample_quality.InceptionFeatures(mesh_lib.make_mesh(jax.devices()[:1]), 50)
    self.real_features = self.inception(real, 'real test digits')

  def __call__(self, images: np.ndarray) -> dict:
    from jaxgan.evaluation import metrics  # pylint: disable=g-import-not-at-top
    from jaxgan.evaluation import digit_classifier  # pylint: disable=g-import-not-at-top
    features = self.inception(images, 'generated digits')
    kid, _ = metrics.kernel_inception_distance(self.real_features, features, num_subsets=1)
    return {'accuracy': float(digit_classifier.accuracy(self.classifier, images, self.labels)),
            'kid': kid}

  def protocol(self) -> dict:
    return {'accuracy': 'the mnist_5k digit classifier (experiments/digit_classifier.py, test '
                        'accuracy in digit_classifier.json) on the outputs, labels of their '
                        'targets',
            'kid': 'unbiased KID (polynomial kernel) between Inception-v3 pool3 features of '
                   'the outputs and of the 500 real test digits, one subset of all of them',
            'inception': self.inception.protocol()}
