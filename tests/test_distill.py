"""Distillation (configs/distill.py, jaxgan/families/distill.py): the loss terms on hand cases, the
student's widths, a short run that lowers the reconstruction term, bitwise resume with the frozen
teacher kept out of checkpoints and unchanged, the student loaded as a generator, and refusals."""
import json
import os

import jax
import numpy as np
import pytest

from conftest import REPO
from conftest import TINY_DCGAN
from conftest import final_state
from conftest import run_compiled_steps
from conftest import run_in_process
from conftest import shrunk_config
from conftest import straight_and_resumed
from conftest import tiny_dcgan_config
from jaxgan import families
from jaxgan.families import distill
from jaxgan.inference import api
from jaxgan.training import mesh as mesh_lib

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
