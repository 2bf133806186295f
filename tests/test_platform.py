"""The tools' process settings: default XLA flags (the user's win), a quiet start-up, the optional
TensorFlow extra."""
import re

from jaxgan import platform


def test_adds_defaults_and_keeps_the_users_flags(monkeypatch):
  monkeypatch.setenv('XLA_FLAGS', '--xla_force_host_platform_device_count=4')
  platform.use_default_xla_flags()
  flags = platform.os.environ['XLA_FLAGS'].split()
  assert flags[0] == '--xla_force_host_platform_device_count=4'
  assert set(platform.DEFAULT_XLA_FLAGS) <= set(flags)


def test_a_flag_the_user_set_wins(monkeypatch):
  name = platform.DEFAULT_XLA_FLAGS[0].split('=')[0]
  monkeypatch.setenv('XLA_FLAGS', f'{name}=dot')
  platform.use_default_xla_flags()
  assert platform.os.environ['XLA_FLAGS'] == f'{name}=dot'


def test_filtered_stderr_drops_only_the_noise_written_below_python(capfd):
  """Lines written to file descriptor 2 (as TensorFlow's C++ does) inside the block: those with
  a noise string are dropped, the rest come out after it in order."""
  with platform.filtered_stderr(platform.TENSORFLOW_START_UP_NOISE):
    platform.os.write(2, b'I0000 port.cc:153] oneDNN custom operations are on. You may see\n'
                         b'E0000 a real error\n')
    platform.os.write(2, b'W a python warning\n')
    platform.os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called '
                         b'are written to STDERR\n')
  assert capfd.readouterr().err == 'E0000 a real error\nW a python warning\n'


def test_quiet_logs_drop_backend_probing_and_library_info_unless_verbose():
  from absl import logging  # pylint: disable=g-import-not-at-top
  from jaxgan import console  # pylint: disable=g-import-not-at-top

  def record(pathname, level=logging.logging.INFO):
    return logging.logging.LogRecord('jax', level, pathname, 1, 'msg', (), None)

  handler = logging.get_absl_handler()
  tpu = record('/site-packages/jax/_src/xla_bridge.py')
  ours = record('/repo/jaxgan/training/trainer.py')
  saved = logging.get_verbosity()
  try:
    console.quiet_library_logs()
    assert not handler.filter(tpu) and handler.filter(ours)
    assert not handler.filter(record('/site-packages/orbax/checkpoint/x.py'))
    assert handler.filter(record('/site-packages/jax/_src/xla_bridge.py', logging.logging.WARNING))
    logging.set_verbosity(logging.DEBUG)  # --verbosity=1
    console.quiet_library_logs()
    assert handler.filter(tpu)
  finally:
    logging.set_verbosity(saved)
    handler.removeFilter(console._QUIET_LIBRARIES)  # pylint: disable=protected-access


def test_without_the_tensorflow_extra_export_and_tfds_sets_are_one_line_errors(
    monkeypatch, tmp_path):
  """TensorFlow and tensorflow-datasets are the optional `tf` extra: without them (hidden from
  the import system here) the two tools that need them say how to install them."""
  import pytest  # pylint: disable=g-import-not-at-top
  from conftest import DCGAN_CONFIG  # pylint: disable=g-import-not-at-top
  from jaxgan import config_lib  # pylint: disable=g-import-not-at-top
  from jaxgan.data import sources  # pylint: disable=g-import-not-at-top
  from jaxgan.inference import saved_model  # pylint: disable=g-import-not-at-top
  find_spec = platform.importlib.util.find_spec
  monkeypatch.setattr(platform.importlib.util, 'find_spec', lambda name, *args: (
      None if name.startswith('tensorflow') else find_spec(name, *args)))
  install = "pip install -e '.[tf]'"
  with pytest.raises(ValueError, match=r'^jaxgan.export \(a TensorFlow SavedModel\) needs '
                     r'tensorflow, .*' + re.escape(install)):
    saved_model.export_model(None, str(tmp_path / 'out'))
  assert not (tmp_path / 'out').exists()
  config = config_lib.load_config(f'{DCGAN_CONFIG}:cifar10')
  with pytest.raises(sources.DatasetError, match=r"^Dataset 'cifar10' \(not bundled: .* needs "
                     r'tensorflow and tensorflow_datasets, .*' + re.escape(install)):
    sources.open_source(config.data, 'train')
