"""Console logging shared by the command-line tools."""
from absl import logging


class _QuietLibraries(logging.logging.Filter):
  """Drops the INFO chatter of orbax (a line per file operation); warnings still show."""

  def filter(self, record) -> bool:
    return record.levelno > logging.logging.INFO or 'orbax' not in record.pathname


def quiet_library_logs() -> None:
  logging.get_absl_handler().addFilter(_QuietLibraries())
