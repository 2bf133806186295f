"""Inference cost (jaxgan/inference/cost.py): XLA's MACs against hand formulas, parameters counted
only where the inference function reads them, and jaxgan.load(...).info reporting both."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from conftest import tiny_dcgan_config
from jaxgan.inference import api
from jaxgan.inference import cost
from jaxgan.training.state import NetworkState
from jaxgan.training.state import TrainState


def test_macs_of_a_valid_convolution_and_a_dense_layer_are_their_formulas():
  height, width, kernel, channels_in, channels_out = 9, 7, 3, 3, 5
  conv = nn.Conv(channels_out, (kernel, kernel), padding='VALID', use_bias=False)
  images = jnp.zeros((1, height, width, channels_in))
  variables = conv.init(jax.random.key(0), images)
  expected = (height - kernel + 1) * (width - kernel + 1) * channels_in * channels_out * kernel ** 2
  assert cost.macs(conv.apply, variables, images) == expected

  dense = nn.Dense(7, use_bias=False)
  inputs = jnp.zeros((2, 4))
  assert cost.macs(dense.apply, dense.init(jax.random.key(0), inputs), inputs) == 2 * 4 * 7


def test_parameters_read_counts_the_params_the_function_reads_and_nothing_else():
  def network(shape, ema):
    variables = {'params': {'kernel': np.ones(shape, np.float32)},
                 'batch_stats': {'mean': np.ones(shape[-1:], np.float32)}}
    return NetworkState.create(variables, optax.adam(1e-3), ema=ema)

  state = TrainState.create({'generator': network((3, 4), ema=True),
                             'discriminator': network((4, 1), ema=False)})

  def generate(state, z):
    g = state.generator
    return z @ g.ema_params['kernel'] + g.collections['batch_stats']['mean']

  z = np.zeros((1, 3), np.float32)
  assert cost.parameters_read(generate, state, z) == 12  # not D, Adam's moments, BN statistics
  both = lambda state, z: generate(state, z) @ state.discriminator.params['kernel']
  assert cost.parameters_read(both, state, z) == 16


def test_info_reports_the_ema_generators_parameters_and_macs(trained_run):
  config = tiny_dcgan_config()
  model = api.load(trained_run(config))
  reported = model.info['cost']
  g = model.state.generator
  assert reported['function'] == 'generate'
  assert reported['parameters'] == sum(np.size(x) for x in jax.tree.leaves(g.ema_params))
  generator = model.family.generator
  z = np.zeros((1, config.model.latent_dim), np.float32)
  one_image = cost.macs(lambda variables, z: generator.apply(variables, z, None, train=False),
                        g.variables(ema=True), z)
  assert reported['macs_per_image'] == one_image
  # The Dense layer alone (latent -> 7 x 7 x widths[0], no bias) is a lower bound.
  assert one_image > config.model.latent_dim * 7 * 7 * config.model.generator_widths[0]
