"""A minimal family for trainer tests: paired (input, target) data, two phases of different sizes.

Each example is a digit (target) and its 2x PIL-bicubic downscale (input); a two-layer conv
net refines the nearest-upsampled input, with an L1 loss. Phase 'low' trains on 14x14 digits in
batches of 8, phase 'high' on 28x28 digits in batches of 4: the batch shapes change, so the
trainer must compile once per phase, and the data position must count examples.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from configs import blocks
from jaxgan.data import images as image_lib
from jaxgan.families import base
from jaxgan.training import optim
from jaxgan.training.state import NetworkState
from jaxgan.training.state import TrainState

PHASES = (base.Phase('low', 3, 8, 14), base.Phase('high', 4, 4, 28))


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.family = 'phased_test'
  config.data = blocks.data('mnist_5k', 28, 1)
  config.data.pairing = 'degradation'
  config.data.degradation = ml_collections.ConfigDict({'name': 'downscale', 'factor': 2})
  config.model = ml_collections.ConfigDict({'width': 4})
  config.optim = ml_collections.ConfigDict()
  config.optim.model = blocks.adam(learning_rate=1e-2, b1=0.9, b2=0.999, eps=1e-8)
  config.train = blocks.train(num_steps=7, batch_size=8, log_every=1, checkpoint_every=2,
                              keep_checkpoints=10, sample_every=100, num_sample_images=4)
  config.lock()
  return config


class Refiner(nn.Module):
  width: int

  @nn.compact
  def __call__(self, x):
    y = nn.relu(nn.Conv(self.width, (3, 3))(x))
    return x + nn.Conv(x.shape[-1], (3, 3))(y)


class PhasedTestFamily:
  """L1 regression of the target from the upsampled input, in two phases."""
  capabilities = frozenset({'phases', 'translate', 'image_grids'})
  tileable = True  # no normalization layers

  def __init__(self, config):
    self.config = config
    self.model = Refiner(config.model.width)
    self.optimizer = optim.make_optimizer(
        config.optim.model, optim.make_schedule(config.optim.model, config.train.num_steps))
    self.traced_shapes = []  # the input shapes train_step was traced with

  def phases(self):
    return PHASES

  def example_batch(self, phase):
    n, s, c = phase.batch_size, phase.image_size, self.config.data.channels
    return {'input': jax.ShapeDtypeStruct((n, s // 2, s // 2, c), np.uint8),
            'target': jax.ShapeDtypeStruct((n, s, s, c), np.uint8),
            'label': jax.ShapeDtypeStruct((n,), np.int32)}

  def fingerprint(self):
    return {'family': 'phased_test', 'model': self.config.model.to_dict()}

  def init(self, rng, batch):
    variables = self.model.init(rng, self._upsampled(batch['input'][:1]))
    return TrainState.create({'model': NetworkState.create(variables, self.optimizer, ema=True)})

  @staticmethod
  def _upsampled(inputs):
    x = image_lib.normalize_images(inputs)
    return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)

  def train_step(self, state, batch, rng):
    del rng
    self.traced_shapes.append(batch['input'].shape)
    x, target = self._upsampled(batch['input']), image_lib.normalize_images(batch['target'])

    def loss_fn(params):
      return jnp.mean(jnp.abs(self.model.apply({'params': params}, x) - target))

    loss, grads = jax.value_and_grad(loss_fn)(state.model.params)
    model = state.model.apply_gradients(grads, self.optimizer, ema_decay=0.9)
    return state.update(model=model), {'loss': loss}

  def translate(self, state, inputs):
    return self.model.apply({'params': state.model.ema_params}, self._upsampled(inputs))

  def image_grids(self, state, rng, batch):
    del rng
    outputs = self.translate(state, batch['input'])
    return {'translations': jnp.concatenate([self._upsampled(batch['input']), outputs,
                                             image_lib.normalize_images(batch['target'])])}
