"""Gated PixelCNN: causality of both stacks by exact gradients, exact bits/dim, trainer runs."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import run_compiled_steps
from conftest import shrunk_config
from jaxgan.data import sources as data
from jaxgan.evaluation import heldout
from jaxgan import families
from jaxgan.models import pixelcnn
from jaxgan.training import mesh as mesh_lib
from jaxgan.training import trainer as train

TINY_PIXELCNN = {
    'model.features': 4,
    'model.num_layers': 2,
    'model.first_kernel_size': 3,
    'model.output_hidden': 8,
    'train.batch_size': 8,
    'train.num_steps': 4,
    'train.log_every': 2,
    'train.checkpoint_every': 4,
    'train.sample_every': 4,
    'train.num_sample_images': 4,
    'eval.heldout.batch_size': 96,
}
SIZE = 8


def _dependence(outputs_fn, images):
  """[H, W, H, W] bool: whether output pixel (i, j) (any channel) has a nonzero gradient with
  respect to input pixel (k, l) (any channel), from the full Jacobian."""
  jacobian = jax.jit(jax.jacrev(lambda x: outputs_fn(x)[0]))(images)  # [H, W, F, 1, H, W, C]
  return np.asarray(jnp.any(jacobian[:, :, :, 0] != 0, axis=(2, 5)))


@pytest.mark.parametrize('channels', [1, 3])
def test_masks_are_causal_in_raster_order_across_both_stacks(channels):
  """Output and horizontal stack at pixel i: zero gradient w.r.t. input pixels >= i (all colour
  channels, including pixel i's own); vertical stack at (r, c): zero w.r.t. rows >= r. And no
  blind spot: deep enough, every earlier pixel does matter."""
  model = pixelcnn.GatedPixelCnn(features=4, num_layers=4, kernel_size=3, first_kernel_size=5,
                                 output_hidden=8, out_features=6)
  images = jax.random.uniform(jax.random.key(0), (1, SIZE, SIZE, channels), minval=-1.0)
  params = jax.jit(model.init)(jax.random.key(1), images)
  raster = np.arange(SIZE * SIZE).reshape(SIZE, SIZE)
  before = raster[:, :, None, None] > raster[None, None, :, :]  # input (k, l) precedes (i, j)
  rows_above = np.arange(SIZE)[:, None, None, None] > np.arange(SIZE)[None, None, :, None]
  rows_above = np.broadcast_to(rows_above, before.shape)

  output = _dependence(lambda x: model.apply(params, x), images)
  vertical = _dependence(lambda x: model.apply(params, x, return_stacks=True)[0], images)
  horizontal = _dependence(lambda x: model.apply(params, x, return_stacks=True)[1], images)
  assert not np.any(output & ~before)
  assert not np.any(horizontal & ~before)
  assert not np.any(vertical & ~rows_above)
  # Receptive field of (5, 4) with these kernels covers the whole image: all earlier pixels.
  np.testing.assert_array_equal(horizontal[5, 4], before[5, 4])
  np.testing.assert_array_equal(vertical[5, 4], rows_above[5, 4])


def test_uniform_model_costs_exactly_8_bits_per_dim_through_the_evaluator():
  config = shrunk_config('pixelcnn.py', TINY_PIXELCNN)
  family = families.make(config)
  mesh = mesh_lib.make_mesh()
  state = families.init_state(family, mesh)
  zero_output = jax.tree.map(jnp.zeros_like, state.model.ema_params['output'])
  model = state.model.replace(ema_params=dict(state.model.ema_params, output=zero_output))
  state = state.replace(networks={'model': model})
  evaluator = heldout.HeldOutEvaluator('heldout', config.eval.heldout, config, family, mesh)
  results = evaluator(state, 0)
  np.testing.assert_allclose(results['bits_per_dim'], 8.0, rtol=1e-6)
  np.testing.assert_allclose(results['nll_nats'], 784 * np.log(256), rtol=1e-6)


def test_evaluator_averages_every_test_image_once():
  """Padded last batch (500 = 5 x 96 + 20) and 4 devices vs one direct pass over the split."""
  config = shrunk_config('pixelcnn.py', TINY_PIXELCNN)
  family = families.make(config)
  mesh = mesh_lib.make_mesh()
  state = families.init_state(family, mesh)
  results = heldout.HeldOutEvaluator('heldout', config.eval.heldout, config, family, mesh)(state, 0)
  test = data.open_source(config.data, 'test')
  direct = jax.jit(family.negative_log_likelihood)(jax.device_get(state.model.ema_params),
                                                   test.get(np.arange(len(test)))['image'])
  np.testing.assert_allclose(results['nll_nats'], float(jnp.mean(direct)), rtol=1e-5)


def test_colour_needs_the_logistic_mixture():
  with pytest.raises(ValueError, match="use 'logistic_mixture'"):
    families.make(shrunk_config('pixelcnn.py', {'data.channels': 3}))


def test_step_compiles_once_and_loss_is_bits_per_dim():
  config = shrunk_config('pixelcnn.py', TINY_PIXELCNN)
  _, history, step_fn = run_compiled_steps(config, 3)
  metrics = history[-1]
  assert step_fn._cache_size() == 1  # pylint: disable=protected-access
  np.testing.assert_allclose(metrics['loss'], metrics['nll_nats'] / (784 * np.log(2)), rtol=1e-5)


@pytest.mark.parametrize('likelihood', ['categorical', 'logistic_mixture'])
def test_config_trains_and_samples_through_the_trainer(tmp_path, likelihood):
  config = shrunk_config('pixelcnn.py', TINY_PIXELCNN, pixelcnn__likelihood=likelihood)
  state = train.train_and_evaluate(config, str(tmp_path))
  assert os.listdir(tmp_path / 'samples') == ['step_0000004.png']
  samples = np.asarray(families.make(config).sample(state, jax.random.key(0), 2))
  pixels = (samples + 1.0) * 127.5
  np.testing.assert_allclose(pixels, np.round(pixels), atol=1e-3)  # on the 256-value grid
  assert samples.min() >= -1.0 and samples.max() <= 1.0 and samples.std() > 0
