"""int8 inference (jaxgan/compression/quantize.py, jaxgan.load(..., quantize='int8')): the
per-channel scales and int8 values by hand, the quantized generator against the float network
run on weights rounded by a numpy formula, weight bytes, the tools' --quantize, the SavedModel
with int8 variables, and refusals (an unknown mode, training a quantized model)."""
import os

import jax
import numpy as np
from PIL import Image
import pytest

import translate_family
from conftest import run_in_process
from conftest import shrunk_config
from conftest import tiny_dcgan_config
from test_super_resolution import PSNR_RUN
from test_super_resolution import tiny_sr_config
from test_unpaired import TINY_UNPAIRED
from jaxgan import config_lib
from jaxgan import serve
from jaxgan.compression import quantize
from jaxgan.data import images as image_lib
from jaxgan.inference import api
from jaxgan.inference import saved_model
from jaxgan.training import trainer


@pytest.fixture(scope='module')
def run(trained_run):
  return trained_run(tiny_dcgan_config())  # the run other test files share


@pytest.fixture(scope='module')
def models(run):
  return api.load(run), api.load(run, quantize='int8')


def numpy_int8(kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(int values, scale): scale = max|w| / 127 per output channel (last axis), values
  round(w / scale); the formula, written apart from the library."""
  kernel = np.asarray(kernel, np.float64)
  scale = np.abs(kernel).reshape(-1, kernel.shape[-1]).max(0) / 127
  return np.round(kernel / scale), scale


def test_per_channel_scales_and_values_by_hand():
  kernel = np.array([[1.0, -4.0, 0.0], [0.5, 2.0, 0.0]], np.float32)
  q = quantize.quantize_kernel(kernel)
  assert q.values.dtype == np.int8 and q.scale.dtype == np.float32
  np.testing.assert_allclose(q.scale, [1 / 127, 4 / 127, 1.0], rtol=1e-7)  # zero column: 1
  # 0.5 * 127 = 63.5 and 2 * 127 / 4 = 63.5 round to the even 64.
  np.testing.assert_array_equal(q.values, [[127, -127, 0], [64, 64, 0]])

  kernel = np.random.default_rng(0).normal(size=(5, 5, 3, 7)).astype(np.float32)
  q = quantize.quantize_kernel(kernel)
  values, scale = numpy_int8(kernel)
  np.testing.assert_allclose(q.scale, scale, rtol=1e-6)
  np.testing.assert_array_equal(q.values, values)
  assert (np.abs(q.values).reshape(-1, 7).max(0) == 127).all()
  error = np.abs(np.asarray(quantize.dequantize_kernel(q)) - kernel)
  assert (error <= scale / 2 * (1 + 1e-5)).all()


def test_int8_generator_is_the_float_network_on_rounded_weights(models):
  float_model, int8_model = models
  float_g = float_model.state.generator
  stored = int8_model.state.generator.ema_params
  kernels = {'Dense_0', 'ConvTranspose_0', 'ConvTranspose_1', 'ConvTranspose_2'}
  int8_layers = {k for k, v in stored.items() if isinstance(v.get('kernel'), quantize.Int8Kernel)}
  assert int8_layers == kernels
  assert len(int8_model.info['quantization']['quantized']) == len(kernels)
  assert all('BatchNorm' in name for name in int8_model.info['quantization']['float32'])
  rounded = {}
  for layer, params in float_g.ema_params.items():
    if layer not in kernels:
      rounded[layer] = params
      continue
    q = stored[layer]['kernel']
    values, scale = numpy_int8(params['kernel'])
    assert q.values.dtype == np.int8
    np.testing.assert_array_equal(q.values, values)
    np.testing.assert_allclose(q.scale, scale, rtol=1e-6)
    assert (np.abs(quantize.dequantize_kernel(q) - params['kernel']) <= scale / 2 + 1e-9).all()
    rounded[layer] = {**params, 'kernel': (values * scale).astype(np.float32)}

  latents = float_model.latents(8, seed=3)
  generate = jax.jit(lambda state, z: float_model.family.generate(state, z))
  on_float = np.asarray(generate(float_model.state, latents))
  reference = float_model.state.replace(networks={
      **float_model.state.networks, 'generator': float_g.replace(ema_params=rounded)})
  on_rounded = np.asarray(generate(reference, latents))
  on_int8 = np.asarray(jax.jit(int8_model.served(generate))(int8_model.state, latents))
  np.testing.assert_allclose(on_int8, on_rounded, atol=1e-5)
  # Rounding moves the [-1, 1] images by 7e-4 here; scales off by one level (max|w| / 126 or
  # / 128) move them by 3.6e-3 and 2.9e-3. uint8 outputs stay within one level.
  assert np.abs(on_int8 - on_float).max() < 2e-3
  assert np.abs(int8_model.generate(latents).astype(int) -
                float_model.generate(latents).astype(int)).max() <= 1


def test_int8_super_resolution_translates_close_to_float(trained_run):
  run = trained_run(tiny_sr_config(**PSNR_RUN))  # the SR run the session shares
  float_model, int8_model = api.load(run), api.load(run, quantize='int8')
  assert any('Conv' in name for name in int8_model.info['quantization']['quantized'])
  image = np.random.default_rng(0).integers(0, 256, (12, 10, 3), np.uint8)
  difference = np.abs(int8_model.translate(image).astype(int) -
                      float_model.translate(image).astype(int))
  assert difference.shape == (48, 40, 3) and difference.max() <= 2, difference.max()
  tiled = np.abs(int8_model.translate(image, tile=8, overlap=2).astype(int) -
                 float_model.translate(image, tile=8, overlap=2).astype(int))
  assert tiled.max() <= 2, tiled.max()


def test_weight_bytes_count_int8_kernels_and_float32_scales(models):
  float_model, int8_model = models
  params = jax.tree.leaves(float_model.state.generator.ema_params)
  kernels = [p for p in params if p.ndim >= 2]
  others = sum(p.size for p in params if p.ndim < 2)
  float_cost, int8_cost = float_model.info['cost'], int8_model.info['cost']
  assert float_cost['weight_bytes'] == 4 * sum(p.size for p in params)
  assert int8_cost['weight_bytes'] == sum(k.size + 4 * k.shape[-1] for k in kernels) + 4 * others
  # The tiny generator's BatchNorm after its Dense layer has 784 channels of float32 scale and
  # bias, so its bytes shrink 2.4x here; the kernels alone shrink by their fan-in / (fan-in + 4).
  assert 2.3 < float_cost['weight_bytes'] / int8_cost['weight_bytes'] < 2.5
  assert int8_cost['parameters'] == float_cost['parameters']
  assert int8_cost['macs_per_image'] == float_cost['macs_per_image']
  assert float_model.info['quantization'] is None


def test_weight_bytes_of_a_bidirectional_run_count_the_served_generator_only(tmp_path_factory):
  """An unpaired run is served A -> B: its cost counts G_AB, float32 or int8. (Dequantizing
  every kernel inside the cost's function must not count G_BA's, whose results are unused.)"""
  workdir = translate_family.untrained_run(tmp_path_factory, 'cyclegan',
                                           shrunk_config('cyclegan.py', TINY_UNPAIRED))
  float_model, int8_model = api.load(workdir), api.load(workdir, quantize='int8')
  params = jax.tree.leaves(float_model.state.networks['generator_ab'].ema_params)
  kernels = [p for p in params if p.ndim >= 2]
  others = sum(p.size for p in params if p.ndim < 2)
  assert float_model.info['cost']['parameters'] == sum(p.size for p in params)
  assert float_model.info['cost']['weight_bytes'] == 4 * sum(p.size for p in params)
  assert int8_model.info['cost']['weight_bytes'] == (
      sum(k.size + 4 * k.shape[-1] for k in kernels) + 4 * others)


def test_unknown_mode_and_training_a_quantized_model_are_refused(models, run, tmp_path):
  with pytest.raises(config_lib.ConfigError, match=r"quantize='int4' is not a quantization"):
    api.load(run, quantize='int4')
  config = models[1].config
  assert config.quantize == 'int8'
  with pytest.raises(config_lib.ConfigError, match='a quantized model cannot be trained'):
    trainer.train_and_evaluate(config, str(tmp_path / 'never'))
  assert not os.path.exists(tmp_path / 'never')


def test_sample_and_serve_pass_quantize_through(models, run, tmp_path, monkeypatch):
  int8_model = models[1]
  out = str(tmp_path / 'grid.png')
  assert run_in_process('jaxgan.sample', f'--workdir={run}', '--num=4', '--quantize=int8',
                        f'--out={out}') == 0
  np.testing.assert_array_equal(np.asarray(Image.open(out)).reshape(-1),
                                image_lib.make_grid(int8_model.sample(4)).reshape(-1))
  served = []
  monkeypatch.setattr(serve.service, 'create_app', lambda model, limits: served.append(model))
  monkeypatch.setattr(serve.uvicorn, 'run', lambda *args, **kwargs: None)
  assert run_in_process('jaxgan.serve', f'--workdir={run}', '--quantize=int8') == 0
  assert served[0].info['quantization'] == int8_model.info['quantization']
  assert run_in_process('jaxgan.serve', f'--workdir={run}', '--quantize=int4') == 1
  assert len(served) == 1


def test_saved_model_holds_int8_kernels_and_serves_the_int8_outputs(models, tmp_path):
  int8_model = models[1]
  description = saved_model.export_model(int8_model, str(tmp_path / 'int8'))
  assert description['quantization']['mode'] == 'int8'
  batch_stats = jax.tree.leaves(int8_model.state.generator.collections)
  assert description['weights']['bytes'] == int8_model.info['cost']['weight_bytes'] + sum(
      4 * x.size for x in batch_stats)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  loaded = tf.saved_model.load(str(tmp_path / 'int8'))
  assert sum(v.dtype == tf.int8 for v in loaded.weights) == 4
  latents = int8_model.latents(5, seed=1)
  images = loaded.signatures['serving_default'](latents=tf.constant(latents))['images'].numpy()
  difference = np.abs(images.astype(int) - int8_model.generate(latents).astype(int))
  assert difference.max() <= 1 and np.mean(difference > 0) < 0.01
