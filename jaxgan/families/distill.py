"""Knowledge distillation of a trained GAN generator into a narrower one (GAN Compression,
Li et al. 2020, arXiv:2003.08936, sec. 3.1-3.2, with a fixed student width).

The teacher is another run, config.distill.teacher: its config.json builds its family, and its
EMA generator (parameters and batch statistics) is read once on the host and reaches every step
through state.frozen (the 'frozen' capability: jit arguments, never checkpointed). The student is
a GAN of the teacher's architecture whose generator widths are the teacher's times
distill.width_multiplier (or config.model.generator_widths when set); its discriminator starts
fresh or from the teacher's (distill.discriminator_init, the 'warm_start' capability). Per step,
for one batch of latents z (and labels):

  D: one update of config.gan's loss on real images against the student's G_s(z)
  G: reconstruction_weight * pixel_loss(G_s(z), G_t(z))
     + feature_weight * mean over layers l of mean((f_l(F_s,l(z)) - F_t,l(z))^2)
     + adversarial_weight * G's GAN loss
where F_l are the generators' spatial features (models/distillation.py), f_l learned 1x1
convolutions (the 'feature_maps' network) and the teacher runs in inference mode.

A student run samples, generates, evaluates and exports as a GAN run does: 'sample' and
'generate' are the student's EMA generator's. Why a family of its own rather than a run recorded
as 'gan': the config.json that loads the run is the one that resumes its training, and the
checkpoint (with the feature maps) restores into the state that trained it. Loading a student
reads its teacher's run too (state.frozen), so keep the teacher's directory.
"""
import functools
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgan.adversarial import updates as adversarial
from jaxgan import config_lib
from jaxgan.data import images as image_lib
from jaxgan import families
from jaxgan.families import base
from jaxgan.families import common
from jaxgan.inference import runs
from jaxgan.models import distillation
from jaxgan.training import gradients
from jaxgan.training import mesh as mesh_lib
from jaxgan.training.state import NetworkState
from jaxgan.training.state import TrainState

DISCRIMINATOR_INITS = ('teacher', 'fresh')


def distillation_terms(pixel_loss: str, student_images, teacher_images, mapped_features,
                       teacher_features) -> dict:
  """The distillation losses: reconstruction (GAN Compression eq. 2) and feature (eq. 3)."""
  feature_errors = [jnp.mean(jnp.square(s - t)) for s, t in zip(mapped_features, teacher_features)]
  return {'reconstruction_loss': common.PIXEL_LOSSES[pixel_loss](student_images, teacher_images),
          'feature_loss': jnp.mean(jnp.stack(feature_errors))}


def _check_config(config: ml_collections.ConfigDict) -> None:
  distill = config.distill
  if not distill.teacher:
    raise config_lib.ConfigError('config.distill.teacher is empty: pass the --workdir of a '
                                 'trained GAN run (--config.distill.teacher=DIR).')
  if not os.path.exists(os.path.join(distill.teacher, 'config.json')):
    raise config_lib.ConfigError(f'config.distill.teacher={distill.teacher!r} is not a run '
                                 'directory (no config.json): pass the --workdir of a trained '
                                 'GAN run.')
  if not distill.width_multiplier > 0:
    raise config_lib.ConfigError('config.distill.width_multiplier must be > 0, got '
                                 f'{distill.width_multiplier}.')
  if distill.discriminator_init not in DISCRIMINATOR_INITS:
    raise config_lib.ConfigError(f'Unknown config.distill.discriminator_init '
                                 f'{distill.discriminator_init!r}; choose one of '
                                 f'{DISCRIMINATOR_INITS}.')
  if config.gan.n_critic != 1:
    raise config_lib.ConfigError(f'config.gan.n_critic={config.gan.n_critic}: distillation '
                                 'takes one D update per step (n_critic=1).')
  common.check_objective_terms(config.objective, 'pixel_loss',
                               ('reconstruction_weight', 'feature_weight', 'adversarial_weight'))


def scaled_widths(widths, multiplier: float) -> tuple[int, ...]:
  """A student's widths: the teacher's `widths` times `multiplier`, rounded, at least 1."""
  return tuple(max(1, round(w * multiplier)) for w in widths)


def _student_config(config, teacher_config) -> ml_collections.ConfigDict:
  """The config of the student as a GAN run: the teacher's widths scaled unless given."""
  student = ml_collections.ConfigDict(config.to_dict())
  student.family = 'gan'
  if not student.model.generator_widths:
    student.model.generator_widths = scaled_widths(teacher_config.model.generator_widths,
                                                   config.distill.width_multiplier)
  student.lock()
  return student


def _teacher_location(config) -> str:
  return f'config.distill.teacher={config.distill.teacher!r}'


def _check_teacher(config, teacher) -> None:
  """One line for a teacher run that is not a GAN."""
  if not base.has(teacher, 'generate'):
    raise config_lib.ConfigError(f"{_teacher_location(config)} is a {teacher.config.family!r} "
                                 "run, which has no 'generate' capability: distillation needs "
                                 'a GAN teacher.')
  if teacher.config.family != 'gan':
    raise config_lib.ConfigError(f'{_teacher_location(config)} is a {teacher.config.family!r} '
                                 "run: distilling only 'gan' runs is built.")


def _check_student_matches(config, teacher, student) -> None:
  """One line for a student whose latents, images or labels are not the teacher's."""
  pairs = {'data.image_size': (config.data.image_size, teacher.config.data.image_size),
           'data.channels': (config.data.channels, teacher.config.data.channels),
           'model.latent_dim': (student.latent_dim, teacher.latent_dim),
           'label classes (model.conditioning, model.num_classes)': (
               student.label_classes, teacher.label_classes),
           'model.name': (config.model.name, teacher.config.model.name)}
  for field, (mine, theirs) in pairs.items():
    if mine != theirs:
      raise config_lib.ConfigError(f"The student's {field} is {mine!r} but the teacher's "
                                   f'({_teacher_location(config)}) is {theirs!r}: they must '
                                   'match.')


class DistillationFamily:
  """A narrow GAN generator trained against a frozen teacher run's generator (module doc)."""

  capabilities = frozenset({'sample', 'generate', 'frozen', 'warm_start'})

  def __init__(self, config: ml_collections.ConfigDict):
    _check_config(config)
    self.config = config
    self.teacher = families.make(runs.load_config(config.distill.teacher))
    _check_teacher(config, self.teacher)
    self.student = families.make(_student_config(config, self.teacher.config))
    _check_student_matches(config, self.teacher, self.student)
    self.latent_dim, self.label_classes = self.student.latent_dim, self.student.label_classes
    example = (np.zeros((1, self.latent_dim), np.float32), self._labels(np.zeros(1, np.int32)))
    teacher_widths = distillation.feature_widths(self.teacher.generator, *example, train=False)
    student_widths = distillation.feature_widths(self.student.generator, *example, train=False)
    if len(teacher_widths) != len(student_widths):
      raise config_lib.ConfigError(
          f'The student has {len(student_widths)} feature layers, the teacher '
          f'{len(teacher_widths)}: give config.model.generator_widths as many widths as the '
          f"teacher's {list(self.teacher.config.model.generator_widths)}.")
    self.feature_maps = distillation.FeatureMaps(tuple(teacher_widths))

  def _labels(self, labels):
    return labels if self.label_classes else None

  # Protocol: shapes, identity, state.

  def example_batch(self, phase: base.Phase) -> base.Batch:
    return self.student.example_batch(phase)

  def fingerprint(self) -> dict:
    return {**self.student.fingerprint(), 'family': 'distill',
            'teacher_feature_widths': list(self.feature_maps.widths)}

  def init(self, rng: jax.Array, batch: base.Batch) -> TrainState:
    student_rng, maps_rng = jax.random.split(rng)
    state = self.student.init(student_rng, batch)
    z = jnp.zeros((1, self.latent_dim), jnp.float32)
    _, features, _ = distillation.apply_with_features(
        self.student.generator, state.generator.variables(), z,
        self._labels(jnp.zeros((1,), jnp.int32)), train=False)
    maps = NetworkState.create(self.feature_maps.init(maps_rng, features),
                               self.student.generator_optimizer, ema=False)
    return TrainState.create({**state.networks, 'feature_maps': maps})

  @functools.cached_property
  def _teacher_state(self) -> TrainState:
    """The teacher run's checkpoint (distill.teacher_step, default latest) on the host, read
    once for its generator (frozen_params) and discriminator (warm_start)."""
    return jax.device_get(runs.load_run(self.config.distill.teacher,
                                        self.config.distill.teacher_step)[2])

  def frozen_params(self) -> dict:
    """The teacher's generator in inference form: EMA parameters and its batch statistics."""
    teacher = self._teacher_state.generator
    return {'teacher_generator': teacher.variables(ema=bool(jax.tree.leaves(teacher.ema_params)))}

  def warm_start(self, state: TrainState) -> TrainState:
    """With distill.discriminator_init='teacher', D (parameters and collections) from the
    teacher's, with a fresh optimizer state."""
    if self.config.distill.discriminator_init != 'teacher':
      return state
    teacher = self._teacher_state.discriminator
    old = state.discriminator
    if jax.tree.map(np.shape, teacher.variables()) != jax.tree.map(np.shape, old.variables()):
      raise config_lib.ConfigError(
          "config.distill.discriminator_init='teacher', but the student's discriminator "
          f'(config.model.discriminator_widths={list(self.config.model.discriminator_widths)}) '
          "is not the teacher's: use the teacher's discriminator config or 'fresh'.")
    discriminator = NetworkState.create(teacher.variables(), self.student.critic.optimizer,
                                        ema=False)
    # Own buffers for every leaf: the step donates them.
    discriminator = jax.tree.map(lambda new, like: jax.device_put(jnp.array(new), like.sharding),
                                 discriminator, old)
    return state.replace(networks={**state.networks, 'discriminator': discriminator})

  # Training.

  def _student_pass(self, g: NetworkState, params, z, labels):
    """(float32 images, features, updated collections) of the student in training mode."""
    images, features, collections = distillation.apply_with_features(
        self.student.generator, g.variables(params), z, labels, train=True,
        mutable=list(g.collections))
    return images.astype(jnp.float32), features, {**g.collections, **collections}

  def train_step(self, state: TrainState, batch: base.Batch, rng: jax.Array):
    objective = self.config.objective
    latent_rng, d_rng, g_rng = jax.random.split(rng, 3)
    z_rng, label_rng = jax.random.split(latent_rng)
    num = batch['image'].shape[0]
    z = jax.random.normal(z_rng, (num, self.latent_dim))
    labels = self._labels(jax.random.randint(label_rng, (num,), 0, max(self.label_classes, 1)))
    z, labels = mesh_lib.constrain_to_batch((z, labels))  # split like the batch, not replicated
    real = adversarial.Scored(image_lib.normalize_images(batch['image']),
                              self._labels(batch['label']))
    teacher_images, teacher_features, _ = distillation.apply_with_features(
        self.teacher.generator, state.frozen['teacher_generator'], z, labels, train=False)
    teacher_images = teacher_images.astype(jnp.float32)
    teacher_features = [f.astype(jnp.float32) for f in teacher_features]
    g, d = state.generator, state.discriminator

    fake = self._student_pass(g, g.params, z, labels)[0]
    d, d_metrics = adversarial.discriminator_update(
        self.student.critic, d, real, adversarial.Scored(fake, labels), d_rng,
        update_index=state.step)

    def generator_objective(params, inputs, g_rng):
      z, labels, teacher_images, teacher_features, real = inputs
      images, features, collections = self._student_pass(g, params['generator'], z, labels)
      mapped = self.feature_maps.apply({'params': params['feature_maps']}, features)
      terms = distillation_terms(objective.pixel_loss, images, teacher_images, mapped,
                                 teacher_features)
      terms['adversarial_loss'] = adversarial.generator_adversarial_loss(
          self.student.critic, d, adversarial.Scored(images, labels), g_rng, real=real)
      total = (objective.reconstruction_weight * terms['reconstruction_loss']
               + objective.feature_weight * terms['feature_loss']
               + objective.adversarial_weight * terms['adversarial_loss'])
      return total, (terms, collections)

    params = {'generator': g.params, 'feature_maps': state.feature_maps.params}
    (total, (terms, collections)), grads = gradients.value_and_grad(
        generator_objective, params, (z, labels, teacher_images, teacher_features, real), g_rng,
        gradients.microbatches(self.config))
    optimizer = self.student.generator_optimizer
    g = g.apply_gradients(grads['generator'], optimizer, collections=collections,
                          ema_decay=self.config.train.ema_decay)
    maps = state.feature_maps.apply_gradients(grads['feature_maps'], optimizer)
    metrics = {'generator_loss': total, **terms, **d_metrics,
               'generator_learning_rate': self.student.generator_schedule(state.step),
               'discriminator_learning_rate': self.student.discriminator_schedule(state.step)}
    return state.update(generator=g, discriminator=d, feature_maps=maps), metrics

  # Applying the trained student.

  def generate(self, state: TrainState, z: jax.Array, labels: jax.Array | None = None
               ) -> jax.Array:
    """Images from latents with the student's EMA generator (the GAN family's generate)."""
    return self.student.generate(state, z, labels)

  def sample(self, state: TrainState, rng: jax.Array, num: int) -> jax.Array:
    return self.student.sample(state, rng, num)
