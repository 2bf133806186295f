"""The digit classifier: learns, is deterministic, saves and loads safely, crops padded digits."""
import json
import os

import jax
import numpy as np
import pytest

from jaxgan.data import sources as data
from jaxgan.evaluation import digit_classifier as dc
from jaxgan.pretrained import weights

REMAKE = 'run python experiments/digit_classifier.py'


@pytest.fixture(scope='module')
def digits():
  train, test = data.load_mnist_5k('train'), data.load_mnist_5k('test')
  rng = np.random.default_rng(0)  # the splits are sorted by label
  a, b = rng.permutation(len(train))[:400], rng.permutation(len(test))[:200]
  return train.images[a], train.labels[a], test.images[b], test.labels[b]


@pytest.fixture(scope='module')
def tiny(digits):
  images, labels = digits[:2]
  return dc.train(images, labels, seed=0, steps=40, batch_size=32)


def test_a_short_run_beats_chance_on_held_out_digits(tiny, digits):
  assert dc.accuracy(tiny, *digits[2:]) > 0.6  # chance is 0.1; 0.79 when written


def test_training_is_a_function_of_the_seed(digits):
  images, labels = digits[0][:64], digits[1][:64]
  first, again, other = (dc.train(images, labels, seed=s, steps=3, batch_size=16)
                         for s in (1, 1, 2))
  jax.tree.map(np.testing.assert_array_equal, first, again)
  assert not np.array_equal(first['Dense_1']['kernel'], other['Dense_1']['kernel'])


def test_padded_digits_give_the_logits_of_the_originals(tiny, digits):
  images = digits[2][:16]
  padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)))
  np.testing.assert_array_equal(dc.logits(tiny, padded), dc.logits(tiny, images))
  assert dc.logits(tiny, images).shape == (16, 10)


def test_bad_images_are_refused(tiny, digits):
  with pytest.raises(ValueError, match='uint8 digits'):
    dc.logits(tiny, digits[2][:2].astype(np.float32))
  with pytest.raises(ValueError, match=r'\(2, 30, 30, 1\)'):
    dc.logits(tiny, np.zeros((2, 30, 30, 1), np.uint8))


def test_save_load_round_trip(tiny, digits, tmp_path):
  path = str(tmp_path / 'sub' / 'classifier.npz')
  sha1 = dc.save(tiny, path)
  loaded = dc.load(path)
  jax.tree.map(np.testing.assert_array_equal, loaded, tiny)
  assert jax.tree.structure(loaded) == jax.tree.structure(tiny)
  with np.load(path, allow_pickle=False) as stored:
    assert str(stored['_sha1']) == sha1
  np.testing.assert_array_equal(dc.logits(loaded, digits[2]), dc.logits(tiny, digits[2]))


def test_missing_and_corrupt_files_say_how_to_remake_them(tiny, tmp_path):
  with pytest.raises(weights.WeightsError, match=f'does not exist: {REMAKE}'):
    dc.load(str(tmp_path / 'absent.npz'))
  path = str(tmp_path / 'classifier.npz')
  dc.save(tiny, path)
  with open(path, 'rb') as f:
    content = f.read()
  with open(path, 'wb') as f:
    f.write(content[:len(content) // 2])
  with pytest.raises(weights.WeightsError, match=f'unreadable .*: {REMAKE}'):
    dc.load(path)
  flat = {'Dense_1/bias': np.asarray(tiny['Dense_1']['bias'])}
  np.savez(path, **flat)  # no checksum
  with pytest.raises(weights.WeightsError, match=f'unreadable .*_sha1.*: {REMAKE}'):
    dc.load(path)
  dc.save(tiny, path)
  with np.load(path) as stored:
    arrays = dict(stored)
  arrays['Dense_1/bias'] = arrays['Dense_1/bias'] + 1  # tampered after saving
  np.savez(path, **arrays)
  with pytest.raises(weights.WeightsError, match=f'sha1 check .*: {REMAKE}'):
    dc.load(path)
  dc.save({'Dense_1': tiny['Dense_1']}, path)  # a valid file of other parameters
  with pytest.raises(weights.WeightsError, match=f"DigitCNN's parameters: {REMAKE}"):
    dc.load(path)


def test_the_committed_classifier_scores_what_its_results_state():
  with open(os.path.join(os.path.dirname(dc.DEFAULT_PATH), 'digit_classifier.json')) as f:
    stated = json.load(f)
  test = data.load_mnist_5k('test')
  accuracy = dc.accuracy(dc.load(), test.images, test.labels)
  assert accuracy == stated['test_accuracy'] and accuracy > 0.95
