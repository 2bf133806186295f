"""Distillation (configs/distill.py, jaxgan/families/distill.py): the loss terms on hand cases, the
student's widths, a short run that lowers the reconstruction term, bitwise resume with the frozen
teacher kept out of checkpoints and unchanged, the student loaded as a generator, and refusals;
then students of 'translate' teachers: an SRResNet student's terms against numpy, a pix2pix
student lowering its reconstruction term, a CycleGAN student that translates A -> B only, and
their refusals."""
import json
import os

import flax.linen as nn
import jax
import numpy as np
import pytest
from PIL import Image

from conftest import REPO
from conftest import TINY_DCGAN
from conftest import final_state
from conftest import run_compiled_steps
from conftest import run_in_process
from conftest import shrunk_config
from conftest import straight_and_resumed
from conftest import tiny_dcgan_config
from jaxgan import families
from jaxgan.data import images as image_lib
from jaxgan.data import sources as data
from jaxgan.evaluation import image_quality
from jaxgan.families import distill
from jaxgan.inference import api
from jaxgan.training import mesh as mesh_lib
from test_image_to_image import TINY_I2I
from test_super_resolution import PSNR_RUN
from test_super_resolution import TINY_SR
from test_super_resolution import tiny_sr_config
from test_unpaired import TINY_UNPAIRED
import translate_family
from zoo_testing import tiny_shrink
from zoo_testing import tiny_zoo_config

DISTILL_CONFIG = os.path.join(REPO, 'configs', 'distill.py')
# The tests' DCGAN shrink, the student's widths left to distill.width_multiplier.
TINY_DISTILL = {k: v for k, v in TINY_DCGAN.items() if k != 'model.generator_widths'}


@pytest.fixture(scope='module')
def teacher(trained_run):
  return trained_run(tiny_dcgan_config())  # the run other test files share


def tiny_distill_config(teacher_dir, **overrides):
  return shrunk_config('distill.py', TINY_DISTILL, None, distill__teacher=teacher_dir,
                       **overrides)


def test_distillation_terms_are_their_formulas():
  rng = np.random.default_rng(0)
  images = rng.uniform(-1, 1, (2, 4, 4, 1)).astype(np.float32)
  features = [rng.normal(size=(2, 2, 2, 3)).astype(np.float32)]
  same = distill.distillation_terms('l1', images, images, features, features)
  assert float(same['reconstruction_loss']) == 0 and float(same['feature_loss']) == 0

  mapped = [np.ones((1, 2, 2, 1), np.float32), np.full((1, 1, 1, 2), 3.0, np.float32)]
  targets = [np.zeros((1, 2, 2, 1), np.float32), np.ones((1, 1, 1, 2), np.float32)]
  terms = distill.distillation_terms('l2', images, images + 0.5, mapped, targets)
  np.testing.assert_allclose(terms['reconstruction_loss'], 0.25, rtol=1e-6)
  # Each layer's mean squared error (1 and 4), then their mean: layers weigh the same.
  np.testing.assert_allclose(terms['feature_loss'], 2.5, rtol=1e-6)


def test_student_widths_follow_the_multiplier_or_the_explicit_widths(teacher):
  family = families.make(tiny_distill_config(teacher, distill__width_multiplier=0.25))
  assert list(family.fingerprint()['model']['generator_widths']) == [4, 2, 1]  # teacher's (16, 8, 4)
  assert family.fingerprint()['teacher_feature_widths'] == [8, 4]
  family = families.make(tiny_distill_config(teacher, model__generator_widths=(6, 5, 3)))
  assert list(family.fingerprint()['model']['generator_widths']) == [6, 5, 3]


def test_a_short_distillation_lowers_the_reconstruction_term(teacher):
  config = tiny_distill_config(teacher, distill__discriminator_init='fresh',
                               optim__generator__learning_rate=1e-2)
  _, history, _ = run_compiled_steps(config, 12)
  first, last = history[0]['reconstruction_loss'], history[-1]['reconstruction_loss']
  assert last < 0.7 * first, [h['reconstruction_loss'] for h in history]


def test_distilled_run_resumes_bitwise_keeps_the_teacher_frozen_and_loads(teacher, tmp_path):
  config = tiny_distill_config(teacher, train__num_steps=3, train__checkpoint_every=1,
                               train__keep_checkpoints=3, train__log_every=1)
  teacher_state = final_state(teacher, tiny_dcgan_config())
  family = families.make(config)
  # discriminator_init='teacher': D starts as the teacher's.
  start = family.warm_start(families.init_state(family, mesh_lib.make_mesh()))
  for a, b in zip(jax.tree.leaves(start.discriminator.params),
                  jax.tree.leaves(teacher_state.discriminator.params)):
    np.testing.assert_array_equal(a, b)

  straight_dir, resumed_dir = straight_and_resumed(config, str(tmp_path))
  straight, resumed = final_state(straight_dir, config), final_state(resumed_dir, config)
  assert set(straight.networks) == {'generator', 'discriminator', 'feature_maps'}
  for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed)):
    np.testing.assert_array_equal(a, b)
  # The teacher's EMA generator is the frozen network, unchanged by training.
  frozen = resumed.frozen['teacher_generator']
  for a, b in zip(jax.tree.leaves(frozen),
                  jax.tree.leaves(teacher_state.generator.variables(ema=True))):
    np.testing.assert_array_equal(a, b)
  # ... and in no checkpoint file (the student's own networks are).
  def checkpoint_bytes(directory):
    return b''.join(open(os.path.join(d, f), 'rb').read()
                    for d, _, files in os.walk(os.path.join(directory, 'checkpoints'))
                    for f in files)
  saved = checkpoint_bytes(resumed_dir)
  assert b'feature_maps' in saved and b'teacher_generator' not in saved

  # The student loads as a generator, narrower and cheaper than its teacher.
  student, teacher_model = api.load(resumed_dir), api.load(teacher)
  assert student.sample(3).shape == (3, 28, 28, 1)
  json.dumps(student.info)
  student_cost, teacher_cost = student.info['cost'], teacher_model.info['cost']
  assert student_cost['parameters'] == sum(
      np.size(x) for x in jax.tree.leaves(resumed.generator.ema_params))
  assert student_cost['parameters'] < teacher_cost['parameters'] / 2
  assert student_cost['macs_per_image'] < teacher_cost['macs_per_image'] / 2


def test_a_class_conditional_resnet_student_distills_its_teacher_at_one_d_update(
    tmp_path_factory):
  """configs/distill.py:cgan (conditional batch norm in G, projection D, n_dis 5 in the
  teacher's config): a half-width student whose D starts as the teacher's, trained one D update
  per step on the teacher's images per D update; its reconstruction term (same latents and
  labels as the teacher's) drops."""
  teacher_config = tiny_zoo_config('cgan')
  teacher = translate_family.untrained_run(tmp_path_factory, 'cgan', teacher_config)
  shrink = {k: v for k, v in tiny_shrink(teacher_config).items()
            if k != 'model.generator_widths'}
  shrink['train.batch_size'] //= teacher_config.gan.n_critic  # as the preset divides it
  config = shrunk_config('distill.py', shrink, 'cgan', distill__teacher=teacher,
                         optim__generator__learning_rate=1e-2, objective__adversarial_weight=0.0)
  assert (config.gan.n_critic, config.gan.loss) == (1, 'hinge')
  family = families.make(config)
  assert list(family.fingerprint()['model']['generator_widths']) == [4, 4, 4]  # (8, 8, 8) x 0.5
  start = family.warm_start(families.init_state(family, mesh_lib.make_mesh()))
  teacher_state = final_state(teacher, teacher_config)
  for a, b in zip(jax.tree.leaves(start.discriminator.params),
                  jax.tree.leaves(teacher_state.discriminator.params)):
    np.testing.assert_array_equal(a, b)
  _, history, _ = run_compiled_steps(config, 8)
  first, last = history[0]['reconstruction_loss'], history[-1]['reconstruction_loss']
  assert last < 0.8 * first, [h['reconstruction_loss'] for h in history]


def _write_config_json(directory, config) -> str:
  os.makedirs(directory)
  with open(os.path.join(directory, 'config.json'), 'w') as f:
    f.write(config.to_json())
  return str(directory)


@pytest.mark.parametrize('flags, fragment', [
    ({'model.latent_dim': 9}, "The student's model.latent_dim is 9 but the teacher's"),
    ({'data.image_size': 32}, "The student's data.image_size is 32 but the teacher's"),
    ({'model.conditioning': 'projection'}, "The student's label classes"),
    ({'model.generator_widths': '(8,4)'}, 'The student has 1 feature layers, the teacher 2'),
    ({'distill.teacher': 'NOT_A_RUN'}, 'is not a run directory (no config.json)'),
    ({'distill.teacher': 'SR_RUN'}, "'super_resolution' run, which has no 'generate'"),
])
def test_bad_teachers_and_mismatched_students_are_one_fatal_line(teacher, tmp_path, capsys,
                                                                 flags, fragment):
  values = {**TINY_DISTILL, 'distill.teacher': teacher, **flags}
  if values['distill.teacher'] == 'NOT_A_RUN':
    values['distill.teacher'] = str(tmp_path)
  if values['distill.teacher'] == 'SR_RUN':
    values['distill.teacher'] = _write_config_json(tmp_path / 'sr', shrunk_config('srresnet.py', {}))
  args = [f'--config.{k}={v}'.replace(' ', '') for k, v in values.items()]
  code = run_in_process('jaxgan.main', f'--config={DISTILL_CONFIG}', *args,
                        f'--workdir={tmp_path}/student')
  fatal = [line for line in capsys.readouterr().err.splitlines() if line.startswith('FATAL')]
  assert code == 2 and len(fatal) == 1 and fragment in fatal[0], fatal
  assert not os.path.exists(tmp_path / 'student')


# Students of 'translate' teachers (configs/distill.py:srresnet, :pix2pix, :cyclegan): the same
# shrinks as the teachers' own tests, the widths left to distill.width_multiplier.
TRANSLATE_SHRINKS = {'srresnet': (TINY_SR, ('model.features',)),
                     'esrgan': (TINY_SR, ('model.features', 'model.growth')),
                     'pix2pix': (TINY_I2I, ('model.features', 'model.max_features')),
                     'cyclegan': (TINY_UNPAIRED, ('model.features',))}


def tiny_translate_student(preset, teacher_dir, **overrides):
  shrink, widths = TRANSLATE_SHRINKS[preset]
  return shrunk_config('distill.py', {k: v for k, v in shrink.items() if k not in widths},
                       preset, distill__teacher=teacher_dir, **overrides)


@pytest.fixture(scope='module')
def sr_teacher(trained_run):
  return trained_run(tiny_sr_config(**PSNR_RUN))  # the SR run other test files share


def _conv_outputs(module, variables, x):
  """Every nn.Conv output of `module` on x, in call order (flax's capture_intermediates): an
  independent reading of what SRResNet's features are."""
  _, updates = module.apply(variables, x, capture_intermediates=lambda m, name: isinstance(
      m, nn.Conv), mutable=['intermediates'])
  captured = updates['intermediates']
  return [captured[name]['__call__'][0] for name in sorted(captured, key=lambda n: int(n[5:]))]


def test_a_translate_students_terms_are_their_formulas(sr_teacher):
  """One step of an SRResNet student from its initial state: each term of its objective and
  their weighted sum, against numpy on the networks' outputs (features: the convolutions but
  the last, SRResNet having no normalization layers; mapped by 1x1 convolutions)."""
  config = tiny_translate_student('srresnet', sr_teacher, objective__feature_weight=3.0,
                                  objective__target_weight=2.0, objective__pixel_loss='l2')
  family = families.make(config)
  state = families.init_state(family, mesh_lib.make_mesh())
  batch = data.host_batch(data.open_source(config.data, 'train'), 0, 4, seed=0)
  _, metrics = jax.jit(family.train_step)(state, batch, jax.random.key(0))

  x = image_lib.normalize_images(batch['input'])
  generator, teacher = family.student.generator, family.teacher.generator
  student_convs = _conv_outputs(generator, state.generator.variables(), x)
  teacher_convs = _conv_outputs(teacher, state.frozen['teacher_generator'], x)
  assert len(student_convs) == 7  # head, 2 in its one block, trunk, 2 upsamplings, tail
  student_images, teacher_images = (np.asarray(generator.apply(state.generator.variables(), x)),
                                    np.asarray(teacher.apply(state.frozen['teacher_generator'], x)))
  target = np.asarray(image_lib.normalize_images(batch['target']))
  maps = state.feature_maps.params
  errors = []
  for i, (s, t) in enumerate(zip(student_convs[:-1], teacher_convs[:-1])):
    layer = maps[f'Conv_{i}']
    mapped = np.einsum('nhwc,cd->nhwd', s, layer['kernel'][0, 0]) + layer['bias']
    errors.append(np.mean(np.square(mapped - np.asarray(t))))
  expected = {'reconstruction_loss': np.mean(np.square(student_images - teacher_images)),
              'feature_loss': np.mean(errors),
              'target_loss': np.mean(np.square(student_images - target))}
  for name, value in expected.items():
    np.testing.assert_allclose(metrics[name], value, rtol=2e-4, err_msg=name)
  assert 'adversarial_loss' not in metrics and set(state.networks) == {'generator',
                                                                        'feature_maps'}
  np.testing.assert_allclose(metrics['generator_loss'], 1.0 * expected['reconstruction_loss']
                             + 3.0 * expected['feature_loss'] + 2.0 * expected['target_loss'],
                             rtol=2e-4)


def test_an_rrdb_student_of_an_esrgan_run_reconstructs_its_outputs(tmp_path_factory):
  """configs/distill.py:esrgan on a GAN-stage ESRGAN teacher: RRDB widths (features, growth)
  halved, as many features as the teacher (the hidden convolutions), a D because the teacher's
  objective block has one; one step's reconstruction term is the L1 between the two networks'
  outputs."""
  teacher_config = tiny_sr_config('esrgan.py', sr__init_from='')
  teacher = translate_family.untrained_run(tmp_path_factory, 'esrgan', teacher_config)
  config = tiny_translate_student('esrgan', teacher)
  family = families.make(config)
  model = family.fingerprint()['model']
  assert (model['generator'], model['features'], model['growth']) == ('rrdb', 4, 2)  # (8, 4) x 0.5
  state = families.init_state(family, mesh_lib.make_mesh())
  assert set(state.networks) == {'generator', 'discriminator', 'feature_maps'}
  batch = data.host_batch(data.open_source(config.data, 'train'), 0, 4, seed=0)
  _, metrics = jax.jit(family.train_step)(state, batch, jax.random.key(0))
  x = image_lib.normalize_images(batch['input'])
  generator, teacher_generator = family.student.generator, family.teacher.generator
  def conv_count(module, variables):
    _, updates = module.apply(variables, x, capture_intermediates=lambda m, _: isinstance(
        m, nn.Conv), mutable=['intermediates'])
    return len(jax.tree.leaves(updates['intermediates']))
  count = conv_count(generator, state.generator.variables())
  # head, one RRDB of 3 dense blocks x 5, trunk, 2 upsamplings, HR conv, last
  assert count == conv_count(teacher_generator, state.frozen['teacher_generator']) == 21
  assert len(state.feature_maps.params) == count - 1  # every hidden convolution
  student_images = np.asarray(generator.apply(state.generator.variables(), x))
  teacher_images = np.asarray(teacher_generator.apply(state.frozen['teacher_generator'], x))
  np.testing.assert_allclose(metrics['reconstruction_loss'],
                             np.mean(np.abs(student_images - teacher_images)), rtol=2e-4)


def test_a_pix2pix_student_lowers_its_reconstruction_term(tmp_path_factory):
  teacher = translate_family.untrained_run(tmp_path_factory, 'pix2pix',
                                           shrunk_config('pix2pix.py', TINY_I2I))
  config = tiny_translate_student('pix2pix', teacher, optim__generator__learning_rate=1e-2,
                                  objective__target_weight=0.0)
  family = families.make(config)
  assert (family.student.config.model.features, family.student.config.model.max_features) == (
      2, 4)  # the teacher's (4, 8) x 0.5
  state, history, _ = run_compiled_steps(config, 6)
  assert set(state.networks) == {'generator', 'discriminator', 'feature_maps'}
  first, last = history[0]['reconstruction_loss'], history[-1]['reconstruction_loss']
  assert last < 0.7 * first, [h['reconstruction_loss'] for h in history]


def test_a_cyclegan_student_translates_a_to_b_only(tmp_path_factory, tmp_path, capsys):
  """A run (written at its initial state) that loads, costs its own narrow A -> B generator,
  scores itself against its teacher (no truth on digits), and refuses B -> A in one line."""
  teacher = translate_family.untrained_run(tmp_path_factory, 'cyclegan',
                                           shrunk_config('cyclegan.py', TINY_UNPAIRED))
  workdir = translate_family.untrained_run(
      tmp_path_factory, 'cyclegan_student',
      tiny_translate_student('cyclegan', teacher, eval__heldout__batch_size=100))
  model = api.load(workdir)
  assert 'translate' in model.capabilities and not model.can('bidirectional')
  digits = data.load_mnist_5k('test').images[:3]
  translated = model.translate(digits)
  assert translated.shape == digits.shape and translated.dtype == np.uint8
  networks = model.state.networks
  assert set(networks) == {'generator_ab', 'discriminator_b', 'feature_maps'}
  student_parameters = sum(np.size(x) for x in jax.tree.leaves(
      networks['generator_ab'].ema_params))
  assert model.info['cost']['parameters'] == student_parameters  # what translate reads
  teacher_parameters = sum(np.size(x) for x in jax.tree.leaves(
      model.state.frozen['teacher_generator']['params']))
  assert student_parameters < teacher_parameters / 2

  # Held-out metrics (what jaxgan.eval averages): the student's PSNR against its teacher.
  family, batch = model.family, data.host_batch(data.open_source(model.config.data, 'test'), 0, 4,
                                                seed=0)
  metrics = jax.jit(family.eval_metrics)(model.state, batch, jax.random.key(0))
  teacher_images = family.teacher_generator.apply(model.state.frozen['teacher_generator'],
                                                  image_lib.normalize_images(batch['a']['image']),
                                                  train=False)
  assert set(metrics) == {'teacher_psnr'}
  np.testing.assert_allclose(metrics['teacher_psnr'], image_quality.psnr(
      model.translate(batch['a']['image']), image_lib.to_uint8(teacher_images)), rtol=1e-5)

  with pytest.raises(ValueError, match='translates one way only') as refusal:
    model.translate(digits, direction='b2a')
  assert '\n' not in str(refusal.value)
  Image.fromarray(digits[0, ..., 0]).save(tmp_path / 'b.png')
  code = run_in_process('jaxgan.translate', f'--workdir={workdir}', '--direction=b2a',
                        f'--input={tmp_path / "b.png"}', f'--output={tmp_path / "a.png"}')
  fatal = [line for line in capsys.readouterr().err.splitlines() if line.startswith('FATAL')]
  assert code == 2 and len(fatal) == 1 and 'translates one way only' in fatal[0], fatal
  assert not (tmp_path / 'a.png').exists()


@pytest.mark.parametrize('preset, teacher, flags, fragment', [
    ('pix2pix', 'dcgan', {}, "'gan' run, which has no 'translate' capability"),
    ('pix2pix', 'fast_style', {}, "'fast_style' run: distilling it is not built"),
    ('pix2pix', 'srresnet', {}, "'super_resolution' run, but this config distills 'pix2pix'"),
    ('srresnet', 'srresnet', {'data.degradation.factor': 2},
     "The student's data.degradation.factor is 2 but the teacher's"),
    ('srresnet', 'srresnet', {'objective.adversarial_weight': 1.0},
     "the teacher's family has no discriminator here"),
    ('pix2pix', 'pix2pix', {'data.image_size': 64}, "The student's data.image_size is 64"),
    ('cyclegan', 'cyclegan', {'model.num_blocks': 2}, 'The student has 9 feature layers, the '
     'teacher 7'),
    ('vae', 'dcgan', {}, "Unknown distill preset 'vae'"),
])
def test_bad_translate_teachers_and_students_are_one_fatal_line(tmp_path, capsys, preset,
                                                                teacher, flags, fragment):
  """Before any compute or checkpoint (the teachers are config.json files alone)."""
  teachers = {'dcgan': tiny_dcgan_config(), 'fast_style': shrunk_config('fast_style.py', {}),
              'srresnet': tiny_sr_config(), 'pix2pix': shrunk_config('pix2pix.py', TINY_I2I),
              'cyclegan': shrunk_config('cyclegan.py', TINY_UNPAIRED)}
  teacher_dir = _write_config_json(tmp_path / 'teacher', teachers[teacher])
  shrink, widths = TRANSLATE_SHRINKS.get(preset, ({}, ()))
  values = {**{k: v for k, v in shrink.items() if k not in widths}, **flags}
  args = [f'--config.distill.teacher={teacher_dir}'] + [
      f'--config.{k}={v}'.replace(' ', '') for k, v in values.items()]
  code = run_in_process('jaxgan.main', f'--config={DISTILL_CONFIG}:{preset}', *args,
                        f'--workdir={tmp_path}/student')
  fatal = [line for line in capsys.readouterr().err.splitlines() if line.startswith('FATAL')]
  assert code == 2 and len(fatal) == 1 and fragment in fatal[0], fatal
  assert not os.path.exists(tmp_path / 'student')
