"""Metric writers without TensorFlow: scalars to the log and TensorBoard event files.

clu's `metric_writers` package imports TensorFlow for its SummaryWriter (about 4.5 s of a 6 s
`import jaxgan.main` on an idle 2-core CPU machine; experiments/startup_time.py). TensorBoard
only needs the event-file records, so this module writes them itself: TFRecord framing (length,
masked CRC-32C, data, masked CRC-32C) around `Event` protos from the tensorboard package, with
scalars as `simple_value` and images as PNG-encoded `Summary.Image`. TensorFlow is then imported
only by a tfds dataset. The interface is the part of clu's MetricWriter that jaxgan uses.
"""
import io
import os
import socket
import struct
import time
from typing import Mapping

from absl import logging
import numpy as np
from PIL import Image
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.proto import summary_pb2


def _crc32c_table() -> tuple[int, ...]:
  table = []
  for byte in range(256):
    crc = byte
    for _ in range(8):
      crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)  # Castagnoli polynomial, reflected
    table.append(crc)
  return tuple(table)


_CRC32C_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
  """CRC-32C (Castagnoli), the checksum of TFRecord files."""
  crc = 0xFFFFFFFF
  for byte in data:
    crc = _CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
  return crc ^ 0xFFFFFFFF


def _masked_crc32c(data: bytes) -> int:
  crc = crc32c(data)
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _png(image: np.ndarray) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buffer, format='PNG')
  return buffer.getvalue()


class EventFileWriter:
  """Appends TensorBoard events to a new `events.out.tfevents.*` file in `logdir`."""

  def __init__(self, logdir: str):
    os.makedirs(logdir, exist_ok=True)
    name = f'events.out.tfevents.{time.time():.6f}.{socket.gethostname()}.{os.getpid()}'
    self.path = os.path.join(logdir, name)
    self._file = open(self.path, 'wb')  # pylint: disable=consider-using-with
    self._write(event_pb2.Event(wall_time=time.time(), file_version='brain.Event:2'))

  def _write(self, event: event_pb2.Event) -> None:
    data = event.SerializeToString()
    header = struct.pack('<Q', len(data))
    self._file.write(header + struct.pack('<I', _masked_crc32c(header)) + data +
                     struct.pack('<I', _masked_crc32c(data)))

  def write_summary(self, step: int, values: list[summary_pb2.Summary.Value]) -> None:
    self._write(event_pb2.Event(wall_time=time.time(), step=int(step),
                                summary=summary_pb2.Summary(value=values)))

  def flush(self) -> None:
    self._file.flush()

  def close(self) -> None:
    self._file.close()


class MetricWriter:
  """Logs scalars (as clu's LoggingWriter does) and, unless `just_logging`, writes scalars and
  images to a TensorBoard event file in `logdir`."""

  def __init__(self, logdir: str, just_logging: bool = False):
    self._events = None if just_logging else EventFileWriter(logdir)

  @property
  def path(self) -> str | None:
    """The TensorBoard event file written, if any."""
    return self._events and self._events.path

  def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
    logging.info('[%d] %s', step, ', '.join(f'{k}={float(v):.6g}'
                                            for k, v in sorted(scalars.items())))
    if self._events:
      self._events.write_summary(step, [summary_pb2.Summary.Value(tag=k, simple_value=float(v))
                                        for k, v in sorted(scalars.items())])

  def write_images(self, step: int, images: Mapping[str, np.ndarray]) -> None:
    """`images`: name -> uint8 [N, H, W, C] with C in (1, 3, 4); N > 1 gives tags name/i."""
    if not self._events:
      return
    values = []
    for name, batch in sorted(images.items()):
      batch = np.asarray(batch)
      if batch.dtype != np.uint8 or batch.ndim != 4:
        raise ValueError(f'Images {name!r} must be uint8 [N, H, W, C], got {batch.dtype} '
                         f'{batch.shape}.')
      for i, image in enumerate(batch):
        encoded = summary_pb2.Summary.Image(height=image.shape[0], width=image.shape[1],
                                            colorspace=image.shape[2],
                                            encoded_image_string=_png(image))
        values.append(summary_pb2.Summary.Value(tag=name if len(batch) == 1 else f'{name}/{i}',
                                                image=encoded))
    self._events.write_summary(step, values)

  def flush(self) -> None:
    if self._events:
      self._events.flush()

  def close(self) -> None:
    if self._events:
      self._events.close()


def create_default_writer(logdir: str, just_logging: bool = False) -> MetricWriter:
  """The writer of a run: as clu.metric_writers.create_default_writer, without TensorFlow."""
  return MetricWriter(logdir, just_logging)
