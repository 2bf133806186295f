"""Default XLA flags are added for the command-line tools without overriding the user's."""
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
