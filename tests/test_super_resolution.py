"""The super-resolution family: its configs train shrunk, SRGAN's warm start, bitwise resume,
frozen VGG weights kept out of checkpoints, held-out evaluation, and bad configs refused."""
import json
import os

import jax
import numpy as np
import pytest

from conftest import final_state
from conftest import override
from conftest import run_compiled_steps
from conftest import run_in_process
from conftest import shrunk_config
from conftest import straight_and_resumed
from jaxgan import config_lib
from jaxgan.data import images as image_lib
from jaxgan.data import sources as data
from jaxgan.evaluation import image_quality
from jaxgan import families
from jaxgan.models import super_resolution as sr_models
from jaxgan.training import mesh as mesh_lib

# The shrink applied to the SR configs in tests: tiny networks, 32x32 crops, a few steps.
TINY_SR = {
    'model.features': 8,
    'model.num_blocks': 1,
    'model.growth': 4,
    'model.discriminator_widths': (8, 8),
    'model.discriminator_dense': 8,
    'data.image_size': 32,
    'data.crops_per_image': 4,
    'train.batch_size': 4,
    'train.num_steps': 2,
    'train.log_every': 1,
    'train.checkpoint_every': 2,
    'train.sample_every': 2,
    'train.num_sample_images': 2,
    'eval.every_steps': 0,
    'eval.heldout.batch_size': 64,
}


def tiny_sr_config(config_file='srresnet.py', arg=None, **overrides):
  return shrunk_config(config_file, TINY_SR, arg, **overrides)


@pytest.mark.parametrize('config_file, arg', [
    ('srresnet.py', None),
    pytest.param('srgan.py', None, marks=pytest.mark.slow),
    pytest.param('esrgan.py', None, marks=pytest.mark.slow)])
def test_sr_configs_train_shrunk(config_file, arg):
  """The three training recipes (esrgan.py:psnr is esrgan.py's generator with srresnet.py's
  loss; sr_mri.py is srresnet.py on other data, checked below)."""
  config = tiny_sr_config(config_file, arg)
  state, history, _ = run_compiled_steps(config, 2)
  assert int(state.step) == 2
  assert all(np.isfinite(v) for step in history for v in step.values())
  expected = {'generator_loss', 'pixel_loss', 'train_psnr'}
  if config.sr.adversarial_weight:
    expected |= {'adversarial_loss', 'perceptual_loss', 'discriminator_loss'}
  assert expected <= set(history[0])


@pytest.mark.parametrize('config_file, arg, generator, scale, channels', [
    ('sr_mri.py', None, 'srresnet', 2, 1), ('esrgan.py', 'psnr', 'rrdb', 4, 3)])
def test_other_sr_configs_build_their_model_and_data(config_file, arg, generator, scale,
                                                     channels):
  config = tiny_sr_config(config_file, arg)
  family = families.make(config)
  assert (config.model.generator, family.scale, config.sr.adversarial_weight) == (
      generator, scale, 0.0)
  batch = data.host_batch(data.open_source(config.data, 'train'), 0, 2, seed=0)
  assert batch['input'].shape == (2, 32 // scale, 32 // scale, channels)
  state = jax.eval_shape(family.init, jax.random.key(0), batch)
  assert set(state.networks) == {'generator'}


def _psnr(outputs, targets) -> float:
  errors = np.asarray(outputs, np.float64) - np.asarray(targets, np.float64)
  return float(10 * np.log10(255.0 ** 2 / np.mean(np.square(errors))))


def test_srresnet_fits_a_fixed_batch_better_than_bicubic():
  """SRResNet learns a residual to bicubic (image_skip): its first outputs are about bicubic's,
  and after fitting one batch they beat bicubic upsampling of the same inputs."""
  config = tiny_sr_config(**{'model.features': 16, 'optim.generator.schedule': 'constant',
                             'optim.generator.learning_rate': 1e-3})
  family = families.make(config)
  state = families.init_state(family, mesh_lib.make_mesh())
  batch = data.host_batch(data.open_source(config.data, 'train'), 0, 4, seed=0)
  low = image_lib.normalize_images(batch['input'])
  bicubic = _psnr(image_lib.to_uint8(sr_models.upsample_input(low, family.scale)),
                  batch['target'])
  step = jax.jit(family.train_step)
  psnrs = []
  for i in range(60):
    state, metrics = step(state, batch, jax.random.key(i))
    psnrs.append(float(metrics['train_psnr']))  # of the outputs before this step's update
  assert abs(psnrs[0] - bicubic) < 1.0, (psnrs[0], bicubic)
  assert psnrs[-1] > bicubic + 1.0, (psnrs[-1], bicubic)


PSNR_RUN = {'train.num_steps': 1}  # the tiny SRResNet run the session shares


@pytest.fixture
def psnr_run(trained_run):
  """A tiny SRResNet trained for 1 step: what the GAN stages start from."""
  return trained_run(tiny_sr_config(**PSNR_RUN))


@pytest.mark.slow
def test_srgan_warm_start_resume_and_evaluation(psnr_run, tmp_path):
  psnr_dir = psnr_run
  pretrained = final_state(psnr_dir, tiny_sr_config(**PSNR_RUN))

  # The GAN run starts from the PSNR run's EMA generator, with a fresh optimizer state.
  gan_config = tiny_sr_config('srgan.py', **{'sr.init_from': psnr_dir, 'train.num_steps': 3,
                                              'train.checkpoint_every': 1,
                                              'eval.heldout.batch_size': 32,
                                              # one photograph's tiles each (28 and 30)
                                              'eval.heldout.split': 'test[1:2]',
                                              'eval.validation.split': 'validation[1:2]',
                                              'eval.validation.batch_size': 32,
                                              # the configs' tiles: at 32x32 some tiles of
                                              # astronaut's black are reproduced exactly (inf)
                                              'data.image_size': 64})
  family = families.make(gan_config)
  state = family.warm_start(families.init_state(family, mesh_lib.make_mesh()))
  for a, b in zip(jax.tree.leaves(state.generator.params),
                  jax.tree.leaves(pretrained.generator.ema_params)):
    np.testing.assert_array_equal(a, b)
  assert all(not np.any(x) for x in jax.tree.leaves(state.generator.opt_state[0].mu))

  # Three steps straight equal two, a stop, and one more (the warm start is not redone).
  straight_dir, gan_dir = straight_and_resumed(gan_config, str(tmp_path))
  straight, resumed = final_state(straight_dir, gan_config), final_state(gan_dir, gan_config)
  assert set(straight.networks) == {'generator', 'discriminator'}
  for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed)):
    np.testing.assert_array_equal(a, b)

  # The frozen VGG16 (~59 MB) is not in the checkpoint.
  checkpoint = os.path.join(gan_dir, 'checkpoints', '3')
  size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(checkpoint)
             for f in files)
  assert size < 5e6
  assert set(resumed.frozen) == {'vgg16', 'lpips_heads'}

  # jaxgan.eval scores the held-out tiles into results.json.
  assert run_in_process('jaxgan.eval', f'--workdir={gan_dir}') == 0
  with open(os.path.join(gan_dir, 'eval', 'results.json')) as f:
    entry = json.load(f)['3']
  assert {'psnr_y', 'ssim_y', 'psnr_rgb', 'ssim_rgb', 'lpips'} <= set(entry['metrics'])
  assert 10 < entry['metrics']['psnr_y'] < 60


def test_eval_metrics_score_quantized_ema_outputs_against_the_targets():
  config = tiny_sr_config()
  family = families.make(config)
  state = families.init_state(family, mesh_lib.make_mesh())
  rng = np.random.default_rng(0)
  batch = {'input': rng.integers(0, 256, (2, 8, 8, 3), dtype=np.uint8),
           'target': rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8),
           'label': np.zeros(2, np.int32)}
  metrics = jax.device_get(family.eval_metrics(state, batch, jax.random.key(0)))
  outputs = np.clip(np.round((np.asarray(family.translate(state, batch['input'])) + 1) * 127.5),
                    0, 255).astype(np.uint8)
  expected = jax.device_get(image_quality.sr_metrics(outputs, batch['target'], 4))
  for name, value in expected.items():
    np.testing.assert_allclose(metrics[name], value, rtol=1e-6)
  assert metrics['lpips'].shape == (2,) and np.all(metrics['lpips'] > 0)


@pytest.mark.parametrize('overrides, message', [
    ({'data.pairing': ''}, "pairing='degradation'"),
    ({'model.generator': 'edsr'}, "Unknown config.model.generator 'edsr'"),
    ({'sr.perceptual_weight': 1.0, 'sr.perceptual_layer': 'relu9_9'},
     "Unknown config.sr.perceptual_layer 'relu9_9'"),
    ({'sr.pixel_loss': 'l3'}, "Unknown config.sr.pixel_loss 'l3'"),
    ({'data.image_size': 34}, 'not divisible by the scale'),
    ({'data.image_size': 16}, 'SSIM needs 11: use image_size >= 19'),
])
def test_bad_configs_are_refused_with_one_line(overrides, message):
  config = tiny_sr_config()
  for dotted, value in overrides.items():
    override(config, dotted, value)
  with pytest.raises(config_lib.ConfigError, match=message):
    families.make(config)


def test_scale_three_is_refused():
  config = tiny_sr_config(**{'data.image_size': 36})
  config.data.degradation.factor = 3
  with pytest.raises(config_lib.ConfigError, match='power of two'):
    families.make(config)


def test_warm_start_from_another_generator_is_refused(psnr_run):
  config = tiny_sr_config(**{'sr.init_from': psnr_run, 'model.features': 12})
  family = families.make(config)
  with pytest.raises(config_lib.ConfigError, match="'features': 8.*'features': 12"):
    family.warm_start(families.init_state(family, mesh_lib.make_mesh()))
