"""jaxgan.training.checkpoints on its own: round trip, rotation, refusal of another model, damaged
files."""
import glob
import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.training import checkpoints

FINGERPRINT = {'family': 'gan', 'image_shape': (28, 28, 1), 'model': {'latent_dim': 8}}


def _state(seed: int = 0):
  rng = np.random.default_rng(seed)
  return {'w': jnp.asarray(rng.normal(size=(16, 64)), jnp.float32),
          'half': jnp.asarray(rng.normal(size=(5,)), jnp.bfloat16),
          'flags': jnp.asarray([True, False, True]),
          'key': jax.random.key(seed),
          'step': jnp.asarray(seed, jnp.int32)}


def _save(directory, steps, keep=3, fingerprint=FINGERPRINT):
  checkpointer = checkpoints.Checkpointer(directory, fingerprint, keep)
  for step in steps:
    checkpointer.save(step, _state(step), data_position=step * 8)
  checkpointer.wait_until_finished()
  checkpointer.close()


def _restore(directory, fingerprint=FINGERPRINT):
  checkpointer = checkpoints.Checkpointer(directory, fingerprint, 3)
  try:
    return checkpointer.restore(_state())
  finally:
    checkpointer.close()


def _assert_states_equal(a, b):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
      x, y = jax.random.key_data(x), jax.random.key_data(y)
    assert x.dtype == y.dtype
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_round_trip_and_meta_record(tmp_path):
  directory = str(tmp_path / 'checkpoints')
  _save(directory, [7])
  state, meta = _restore(directory)
  _assert_states_equal(state, _state(7))
  assert meta['step'] == 7 and meta['data_position'] == 56
  assert meta['family'] == 'gan' and meta['image_shape'] == [28, 28, 1]
  assert meta['model'] == {'latent_dim': 8}
  # The record is plain JSON on disk, readable without orbax.
  with open(os.path.join(directory, '7', 'meta', 'metadata')) as f:
    assert json.load(f) == meta


def test_checksums_match_an_independent_numpy_sum():
  state = _state(3)
  expected = []
  for leaf in jax.tree.leaves(state):
    if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
      leaf = jax.random.key_data(leaf)
    words = np.asarray(leaf)
    if words.dtype == np.bool_:
      words = words.astype(np.uint8)
    words = words.view({1: np.uint8, 2: np.uint16, 4: np.uint32}[words.dtype.itemsize])
    expected.append(int(words.astype(np.uint64).sum() % 2**32))
  assert checkpoints.checksums(state) == expected


def test_keeps_the_newest_and_restores_the_latest_or_a_given_step(tmp_path):
  directory = str(tmp_path / 'checkpoints')
  _save(directory, [1, 2, 3, 4, 5], keep=2)
  assert sorted(int(d) for d in os.listdir(directory) if d.isdigit()) == [4, 5]
  state, meta = _restore(directory)
  assert meta['step'] == 5
  _assert_states_equal(state, _state(5))
  checkpointer = checkpoints.Checkpointer(directory, FINGERPRINT, 2)
  assert checkpointer.all_steps() == [4, 5]
  _assert_states_equal(checkpointer.restore(_state(), step=4)[0], _state(4))
  checkpointer.close()


def test_empty_directory_restores_nothing(tmp_path):
  assert _restore(str(tmp_path / 'checkpoints')) is None


def test_refuses_a_checkpoint_of_another_model(tmp_path):
  directory = str(tmp_path / 'checkpoints')
  _save(directory, [2])
  other = dict(FINGERPRINT, model={'latent_dim': 16})
  with pytest.raises(checkpoints.CheckpointError,
                     match=r'different model \(model.latent_dim: checkpoint 8 vs config 16\)'):
    _restore(directory, other)
  # Every field of the fingerprint counts, e.g. fast style's style image or ProGAN's schedule.
  other = dict(FINGERPRINT, style_image_sha1='abc')
  with pytest.raises(checkpoints.CheckpointError,
                     match=r"style_image_sha1: checkpoint None vs config 'abc'"):
    _restore(directory, other)


def _state_files(directory, step):
  return sorted((f for f in glob.glob(os.path.join(directory, str(step), 'state', '**'),
                                      recursive=True) if os.path.isfile(f)),
                key=os.path.getsize)


def _flip_bytes(path):
  data = bytearray(open(path, 'rb').read())
  for i in (len(data) // 3, len(data) // 2, 2 * len(data) // 3):
    data[i] ^= 0x5A
  with open(path, 'wb') as f:
    f.write(data)


def _assert_one_line_with_advice(message, path, resume_step):
  assert '\n' not in message and len(message) < 600, message
  assert message.startswith(f'Checkpoint {path} ')
  assert 'tensorstore_spec' not in message and 'Traceback' not in message
  if resume_step is None:
    assert 'to train from step 0' in message
  else:
    assert f'to resume from step {resume_step},' in message


@pytest.mark.parametrize('damage,match', [
    ('garbage', 'cannot be read .*; its files may be damaged'),
    ('flip_array_data', r"is damaged: the values of state\['w'\] differ from those saved"),
    ('flip_metadata', 'cannot be read .*; its files may be damaged'),
])
def test_damaged_checkpoint_is_one_line_that_names_the_previous_one(tmp_path, damage, match):
  directory = str(tmp_path / 'checkpoints')
  _save(directory, [2, 4])
  files = _state_files(directory, 4)
  if damage == 'garbage':
    for path in files:
      with open(path, 'wb') as f:
        f.write(np.random.default_rng(0).bytes(64))
  elif damage == 'flip_array_data':  # the largest file holds w's 4 KiB of raw float32 values
    _flip_bytes(files[-1])
  else:
    _flip_bytes(os.path.join(directory, '4', 'state', '_METADATA'))
  path = os.path.join(directory, '4')
  with pytest.raises(checkpoints.CheckpointError, match=match) as error:
    _restore(directory)
  _assert_one_line_with_advice(str(error.value), path, resume_step=2)
  # The advice works: without step 4 the run resumes from step 2.
  shutil.move(path, str(tmp_path / 'damaged_4'))
  state, meta = _restore(directory)
  assert meta['step'] == 2
  _assert_states_equal(state, _state(2))


def test_only_checkpoint_damaged_advises_a_fresh_start(tmp_path):
  directory = str(tmp_path / 'checkpoints')
  _save(directory, [3])
  for path in _state_files(directory, 3):
    with open(path, 'wb') as f:
      f.write(b'\xff' * 32)
  with pytest.raises(checkpoints.CheckpointError) as error:
    _restore(directory)
  _assert_one_line_with_advice(str(error.value), os.path.join(directory, '3'), resume_step=None)


def test_short_cause_keeps_status_and_innermost_cause_in_whole_words():
  spec = '{"driver":"zarr","kvstore":{"path":"/w/"}}'
  text = ('DATA_LOSS: Error opening "cast" driver: Error opening "zarr" driver: Error reading '
          '"w/.zarray" in OCDBT database at local file "/tmp/run/checkpoints/4/state/": Error '
          'decoding local file "/tmp/run/checkpoints/4/state/manifest.ocdbt": Error decoding '
          'manifest: CRC-32C checksum verification failed: expected=1681992205, '
          f'actual=4150252554 [tensorstore_spec[1]=\'{spec}\'] [tensorstore_spec=\'{spec}\']')
  cause = checkpoints.short_cause(ValueError(text))
  assert cause.startswith('ValueError: DATA_LOSS: ...: ')
  assert cause.endswith('CRC-32C checksum verification failed: expected=1681992205, '
                        'actual=4150252554')
  assert len(cause) <= 220
  words = text.split()
  assert all(word in words for word in cause.split()[1:] if word != '...:'), cause

  long_sentence = ' '.join(f'word{i}' for i in range(100))
  cause = checkpoints.short_cause(OSError(long_sentence + '. Second sentence.\nSecond line'))
  assert cause.endswith(' ...') and 'Second' not in cause
  assert all(word in long_sentence.split() for word in cause.split()[1:-1])
  assert checkpoints.short_cause(KeyError()) == 'KeyError'
