"""jaxgan.training.writers: TensorBoard event files without TensorFlow, read back by TensorBoard
itself."""
import io
import os

import numpy as np
from PIL import Image
from tensorboard.backend.event_processing import event_accumulator

from jaxgan.training import writers


def test_crc32c_standard_check_value():
  assert writers.crc32c(b'123456789') == 0xE3069283  # RFC 3720, appendix B.4
  assert writers.crc32c(b'') == 0


def test_tensorboard_reads_back_scalars_and_images(tmp_path):
  writer = writers.create_default_writer(str(tmp_path))
  writer.write_scalars(1, {'loss': 0.5, 'steps_per_sec': 2})
  writer.write_scalars(3, {'loss': 0.25})
  rng = np.random.default_rng(0)
  gray = rng.integers(0, 256, (1, 30, 20, 1), dtype=np.uint8)
  rgb = rng.integers(0, 256, (2, 8, 6, 3), dtype=np.uint8)
  writer.write_images(3, {'samples': gray, 'pairs': rgb})
  writer.flush()
  # TensorBoard's reader (TensorFlow's record reader when installed) checks every CRC.
  events = event_accumulator.EventAccumulator(
      str(tmp_path), size_guidance={event_accumulator.IMAGES: 0, event_accumulator.SCALARS: 0})
  events.Reload()
  assert [(e.step, e.value) for e in events.Scalars('loss')] == [(1, 0.5), (3, 0.25)]
  assert [e.value for e in events.Scalars('steps_per_sec')] == [2.0]
  assert sorted(events.Tags()['images']) == ['pairs/0', 'pairs/1', 'samples']
  for tag, expected in (('samples', gray[0, ..., 0]), ('pairs/1', rgb[1])):
    (image,) = events.Images(tag)
    assert image.step == 3
    decoded = np.asarray(Image.open(io.BytesIO(image.encoded_image_string)))
    np.testing.assert_array_equal(decoded, expected)


def test_just_logging_writes_no_file(tmp_path):
  writer = writers.create_default_writer(str(tmp_path / 'logs'), just_logging=True)
  writer.write_scalars(1, {'loss': 1.0})
  writer.write_images(1, {'samples': np.zeros((1, 4, 4, 1), np.uint8)})
  writer.flush()
  assert not os.path.exists(tmp_path / 'logs')
