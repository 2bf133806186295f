"""A minimal image-to-image family for the translate tests, and runs of it written directly.

2x nearest upsampling, then three 3x3 convolutions (receptive field radius 2 input pixels)
and tanh, applied with the EMA weights. Tests register it under 'translate_test' (monkeypatch
families.FAMILIES) and write a run's config.json and one checkpoint without training.
"""
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from configs import blocks
from jaxgan import config_lib
from jaxgan.data import images as image_lib
from jaxgan import families
from jaxgan.training import checkpoints
from jaxgan.training import mesh as mesh_lib
from jaxgan.training.state import NetworkState
from jaxgan.training.state import TrainState

SCALE = 2
RADIUS = 2  # input pixels


def get_config(channels: int = 3, seed: int = 0) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = seed
  config.family = 'translate_test'
  config.data = blocks.data('mnist_5k', 8, channels)
  config.model = ml_collections.ConfigDict({'width': 4})
  config.train = blocks.train(num_steps=1, batch_size=4, log_every=1, checkpoint_every=1,
                              keep_checkpoints=1, sample_every=1, num_sample_images=4)
  config.lock()
  return config


class Upsampler(nn.Module):
  width: int
  channels: int

  @nn.compact
  def __call__(self, x):
    x = jnp.repeat(jnp.repeat(x, SCALE, axis=1), SCALE, axis=2)
    x = nn.relu(nn.Conv(self.width, (3, 3))(x))
    x = nn.relu(nn.Conv(self.width, (3, 3))(x))
    return jnp.tanh(nn.Conv(self.channels, (3, 3))(x))


class TranslateTestFamily:
  """A randomly initialised 2x upsampler: what the translate CLI needs of a family, nothing else."""
  capabilities = frozenset({'translate'})
  tileable = True

  def __init__(self, config):
    self.config = config
    self.model = Upsampler(config.model.width, config.data.channels)
    self.optimizer = optax.adam(1e-3)

  def example_batch(self, phase):
    n, s, c = phase.batch_size, phase.image_size, self.config.data.channels
    return {'input': jax.ShapeDtypeStruct((n, s // SCALE, s // SCALE, c), np.uint8),
            'target': jax.ShapeDtypeStruct((n, s, s, c), np.uint8)}

  def fingerprint(self):
    return {'family': 'translate_test', 'model': self.config.model.to_dict()}

  def init(self, rng, batch):
    variables = self.model.init(rng, image_lib.normalize_images(batch['input'][:1]))
    return TrainState.create({'model': NetworkState.create(variables, self.optimizer, ema=True)})

  def train_step(self, state, batch, rng):
    del state, batch, rng
    raise NotImplementedError('The translate tests write their runs without training.')

  def translate(self, state, inputs):
    return self.model.apply({'params': state.model.ema_params}, image_lib.normalize_images(inputs))


def write_run(workdir: str, config: ml_collections.ConfigDict, scale: float = 1.0):
  """A run of `config` (config.json and its initial state as the checkpoint of step 1, every
  parameter times `scale`: an initial network whose outputs vary with its input) in `workdir`,
  as jaxgan.main would leave it; returns the state on the host."""
  family = families.make(config)
  state = families.init_state(family, mesh_lib.make_mesh())
  if scale != 1.0:
    state = state.replace(networks={
        name: network.replace(params=jax.tree.map(lambda p: p * scale, network.params),
                              ema_params=jax.tree.map(lambda p: p * scale, network.ema_params))
        for name, network in state.networks.items()})
  os.makedirs(workdir, exist_ok=True)
  config_lib.write_config_json(config, os.path.join(workdir, 'config.json'))
  checkpointer = checkpoints.Checkpointer(os.path.join(workdir, 'checkpoints'),
                                          family.fingerprint(), 1)
  checkpointer.save(1, state, data_position=0)
  checkpointer.wait_until_finished()
  checkpointer.close()
  return jax.device_get(state)


def untrained_run(tmp_path_factory, name: str, config: ml_collections.ConfigDict,
                  scale: float = 1.0) -> str:
  """The workdir of a fresh `name` directory holding write_run(config, scale): a run without
  training, for tests of what loads, serves or exports a run."""
  workdir = str(tmp_path_factory.mktemp(name))
  write_run(workdir, config, scale)
  return workdir
