"""Config errors surface before any compute, naming the field and what to do."""
import json
import os
import subprocess
import sys

from absl import flags
from ml_collections import config_flags
import pytest

from conftest import DCGAN_CONFIG, REPO, run_in_process, tiny_dcgan_config
from jaxgan import config_lib
from jaxgan.training import trainer as train


def test_dcgan_config_is_locked_and_has_contract_fields():
  config = config_lib.load_config(DCGAN_CONFIG)
  for field in ('seed', 'data.name', 'train.num_steps', 'train.batch_size', 'train.log_every',
                'train.checkpoint_every', 'train.sample_every', 'train.keep_checkpoints',
                'optim.generator.learning_rate', 'optim.discriminator.b1', 'model.latent_dim'):
    assert config_lib.unknown_override_message(config, field) is None, field
  assert config.data.name == 'mnist_5k' and config.train.batch_size == 64
  with pytest.raises(AttributeError):
    config.train.num_stepz = 3


def test_unknown_field_message_lists_valid_fields():
  message = config_lib.unknown_override_message(config_lib.load_config(DCGAN_CONFIG),
                                                'train.num_stepz')
  assert "'config.train.num_stepz'" in message and 'num_steps' in message
  assert 'batch_size' in message


# The data fields the code reads (jaxgan/data/sources.py and the families), declared by
# configs/blocks.py:data with their defaults.
DATA_FIELDS = {'pad': 'True', 'crop': 'True', 'crops_per_image': '7', 'image_feature': 'hr',
               'pairing': 'aligned', 'paired_test': 'True'}


def test_a_data_field_may_be_overridden_on_a_config_that_does_not_set_it():
  for field, value in DATA_FIELDS.items():
    argv = ['main', f'--config={DCGAN_CONFIG}', f'--config.data.{field}={value}']
    values = flags.FlagValues()  # as jaxgan.main defines and parses --config
    config_flags.DEFINE_config_file('config', None, '', flag_values=values, lock_config=True,
                                    sys_argv=argv)
    values(argv)
    assert str(values.config.data[field]) == value, field


@pytest.mark.parametrize('name', sorted(
    n[:-3] for n in os.listdir(os.path.join(REPO, 'configs'))
    if n.endswith('.py') and n not in ('blocks.py', 'common.py', '__init__.py')))
def test_every_config_declares_the_data_fields(name):
  config = config_lib.load_config(os.path.join(REPO, 'configs', f'{name}.py'))
  blocks = [config.data] + ([config.data.other] if 'other' in config.data else [])
  for block in blocks:
    assert not set(DATA_FIELDS) - set(block.keys()), name


def _assert_one_fatal_line(returncode, stderr, exit_code, *fragments):
  fatal = [line for line in stderr.splitlines() if line.startswith('FATAL')]
  assert len(fatal) == 1 and 'Traceback' not in stderr, stderr[-3000:]
  assert returncode == exit_code, stderr[-3000:]
  for fragment in fragments:
    assert fragment in fatal[0], fatal[0]


@pytest.mark.parametrize('config,flags,fragments', [
    ('dcgan.py:foo', [], ["config error: Unknown dcgan preset 'foo'", "'mnist_5k'"]),
    ('no_such_config.py', [], ['no_such_config.py', 'does not exist']),
    ('no_such_config.py', ['--config.seed=1'], ['no_such_config.py', 'does not exist']),
    ('dcgan.py', ['--config.train.num_stepz=5'],
     ["Unknown config field 'config.train.num_stepz'", 'num_steps']),
    ('dcgan.py', ['--config.train.num_steps=abc'], ['flag error', 'config.train.num_steps']),
    ('dcgan.py', ['--config.gan.loss=bogus'],
     ["config error: Unknown config.gan.loss 'bogus'", "'hinge'"]),
    ('dcgan.py', ['--config.gan.penalty=bogus'], ["Unknown config.gan.penalty 'bogus'", 'r1']),
    ('dcgan.py', ['--config.gan.n_critic=3'], ['config.gan.n_critic=3']),
])
def test_cli_config_errors_are_one_fatal_line_before_compute(tmp_path, config, flags, fragments,
                                                            capsys):
  code = run_in_process('jaxgan.main', f'--config={os.path.join(REPO, "configs", config)}',
                        *flags, f'--workdir={tmp_path}/w')
  _assert_one_fatal_line(code, capsys.readouterr().err, 2, *fragments)
  assert not os.path.exists(tmp_path / 'w')


@pytest.mark.parametrize('spec', ['configs/sngan.py:cifar10', os.path.join('configs', 'dcgan.py')])
def test_a_relative_config_missing_here_is_found_in_the_repository(tmp_path, monkeypatch,
                                                                   capsys, caplog, spec):
  """From another directory, the README's `--config=configs/...` loads the repository's file
  (the num_steps=0 refusal shows its fields were read) and the log names it in full."""
  monkeypatch.chdir(tmp_path)
  caplog.set_level('INFO', logger='absl')
  code = run_in_process('jaxgan.main', f'--config={spec}', '--config.train.num_steps=0',
                        '--workdir=w')
  err = capsys.readouterr().err
  _assert_one_fatal_line(code, err, 2, 'config.train.num_steps must be a positive integer')
  assert f'Config {os.path.join(REPO, spec)}' in caplog.messages
  assert not os.path.exists(tmp_path / 'w')


def test_a_config_in_neither_place_names_a_flag_that_works(tmp_path, monkeypatch, capsys):
  monkeypatch.chdir(tmp_path)
  code = run_in_process('jaxgan.main', '--config=dcgan.py', '--workdir=w')
  err = capsys.readouterr().err
  working = f'--config={os.path.join(REPO, "configs", "dcgan.py")}'
  _assert_one_fatal_line(code, err, 2, "Config file 'dcgan.py' does not exist",
                         str(tmp_path), f'e.g. {working}')
  assert err.splitlines()[-1].endswith(working)  # the flag as the line's last word: copyable
  code = run_in_process('jaxgan.main', working, '--config.train.num_steps=0', '--workdir=w')
  _assert_one_fatal_line(code, capsys.readouterr().err, 2, 'config.train.num_steps')


def test_cli_missing_workdir_is_one_fatal_line(capsys):
  code = run_in_process('jaxgan.main', f'--config={DCGAN_CONFIG}')
  _assert_one_fatal_line(code, capsys.readouterr().err, 2, '--workdir')


def _run_elsewhere(cwd, *args):
  """`python *args` from `cwd` (not the repository) with this checkout's jaxgan importable."""
  env = dict(os.environ, PYTHONPATH=REPO)
  return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                        timeout=300, env=env, check=False)


def test_configs_load_from_any_directory(tmp_path):
  names = sorted(f for f in os.listdir(os.path.join(REPO, 'configs'))
                 if f.endswith('.py') and f not in ('blocks.py', 'common.py'))
  paths = [os.path.join(REPO, 'configs', name) for name in names]
  paths.append(os.path.relpath(os.path.join(REPO, 'configs', 'sngan.py'), tmp_path) + ':cifar10')
  code = ('import sys; from jaxgan import config_lib\n'
          'for spec in sys.argv[1:]: print(config_lib.load_config(spec).data.name)')
  result = _run_elsewhere(tmp_path, '-c', code, *paths)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.split()[-1] == 'cifar10' and len(result.stdout.split()) == len(paths)


def test_main_loads_a_config_from_any_directory(tmp_path):
  """absl's config flag loads the file itself: a zoo config (which imports common, which
  imports blocks) by relative path from another directory reaches validation."""
  config = os.path.relpath(os.path.join(REPO, 'configs', 'sngan.py'), tmp_path)
  result = _run_elsewhere(tmp_path, '-m', 'jaxgan.main', f'--config={config}',
                          '--config.train.num_steps=0', '--workdir=w')
  _assert_one_fatal_line(result.returncode, result.stderr, 2,
                         'config.train.num_steps must be a positive integer')


@pytest.mark.parametrize('field,value,match', [
    ('train__num_steps', -5, 'config.train.num_steps must be a positive integer'),
    ('train__batch_size', 6, 'not divisible by the 4 devices'),
    ('train__ema_decay', 1.5, 'config.train.ema_decay'),
    ('optim__generator__learning_rate', -1.0, 'config.optim.generator.learning_rate'),
])
def test_bad_values_fail_before_compute(tmp_path, field, value, match):
  config = tiny_dcgan_config(**{field: value})
  with pytest.raises(config_lib.ConfigError, match=match):
    train.train_and_evaluate(config, str(tmp_path / 'w'))
  assert not os.path.exists(tmp_path / 'w')


def test_unknown_dataset_fails_before_compute(tmp_path):
  config = tiny_dcgan_config(data__name='no_such_dataset_xyz')
  with pytest.raises(train.data.DatasetError, match='Unknown dataset'):
    train.train_and_evaluate(config, str(tmp_path / 'w'))
  assert not os.path.exists(tmp_path / 'w')


def test_config_json_round_trip_and_previous_kept(tmp_path):
  config = tiny_dcgan_config()
  path = str(tmp_path / 'config.json')
  config_lib.write_config_json(config, path)
  assert (config_lib.config_from_json(path).to_json(sort_keys=True)
          == config.to_json(sort_keys=True))
  config.train.num_steps = 99
  config_lib.write_config_json(config, path)
  with open(path + '.1') as f:
    assert json.load(f)['train']['num_steps'] == 10
  assert config_lib.config_from_json(path).train.num_steps == 99
