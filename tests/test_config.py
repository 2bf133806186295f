"""Config errors surface before any compute, naming the field and what to do."""
import json
import os

import pytest

from conftest import DCGAN_CONFIG, run_module, tiny_dcgan_config
from jaxgan import config_lib
from jaxgan import train


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


def test_cli_rejects_unknown_field_before_compute(tmp_path):
  result = run_module('jaxgan.main', f'--config={DCGAN_CONFIG}', f'--workdir={tmp_path}/w',
                      '--config.train.num_stepz=5')
  assert result.returncode == 2
  assert 'Unknown config field' in result.stderr and 'num_steps' in result.stderr
  assert not os.path.exists(tmp_path / 'w')


def test_cli_rejects_wrong_type(tmp_path):
  result = run_module('jaxgan.main', f'--config={DCGAN_CONFIG}', f'--workdir={tmp_path}/w',
                      '--config.train.num_steps=abc')
  assert result.returncode != 0
  assert 'config.train.num_steps' in result.stderr
  assert not os.path.exists(tmp_path / 'w')


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
