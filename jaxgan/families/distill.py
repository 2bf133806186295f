"""Knowledge distillation of a trained generator into a narrower one (GAN Compression,
Li et al. 2020, arXiv:2003.08936, sec. 3.1-3.2, with a fixed student width): one family for
every teacher that generates from latents (GANs) or translates images (SRResNet, pix2pix,
CycleGAN A -> B); what differs per teacher family is its rule (families/distill_teachers.py).

The teacher is another run, config.distill.teacher: its config.json builds its family, and its
EMA generator (parameters and batch statistics) is read once on the host and reaches every step
through state.frozen (the 'frozen' capability: jit arguments, never checkpointed). The student's
networks are a run of the teacher's family (config.distill.student_family) and architecture,
built from this config with the teacher's objective blocks and the generator widths of
config.model (unset: the teacher's times distill.width_multiplier); its state holds G and D
under the teacher family's names, plus the feature maps. D starts fresh or from the teacher's
(distill.discriminator_init, the 'warm_start' capability). Per step, for the batch's generator
inputs x (latents z and labels drawn per step, or the batch's input images):

  D: one update of config.gan's loss on real images (the batch's images; pix2pix: with the
     input beside them; CycleGAN: domain B) against the student's G_s(x)
  G: reconstruction_weight * pixel_loss(G_s(x), G_t(x))
     + feature_weight * mean over layers l of mean((f_l(F_s,l(x)) - F_t,l(x))^2)
     + adversarial_weight * G's GAN loss
     + target_weight * pixel_loss(G_s(x), y)     (data with targets y: pix2pix, SR)
where F_l are the generators' features (models/distillation.py), f_l learned 1x1 convolutions
(the 'feature_maps' network) and the teacher runs in inference mode; the student in training
mode (pix2pix's dropout on). A teacher family without a discriminator (SRResNet) has no D and
no adversarial term. The target term is the teacher family's own ground-truth term: GAN
Compression's distiller on paired data reconstructs the real target (and not the teacher's
output); configs/distill.py:pix2pix keeps both terms (reconstruction_weight=0 is theirs).

A student run is used as a run of its teacher's family (families/distill_teachers.py says
how). It is a family of its own rather than a run recorded as the teacher's family because the
config.json that loads the run is the one that resumes its training, and the checkpoint (with
the feature maps) restores into the state that trained it. Loading a student reads its
teacher's run too (state.frozen), so keep the teacher's directory.
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
from jaxgan.evaluation import image_quality
from jaxgan import families
from jaxgan.families import base
from jaxgan.families import common
from jaxgan.families import distill_teachers
from jaxgan.inference import runs
from jaxgan.models import distillation
from jaxgan.training import gradients
from jaxgan.training import optim
from jaxgan.training.state import NetworkState
from jaxgan.training.state import TrainState

DISCRIMINATOR_INITS = ('teacher', 'fresh')


def distillation_terms(pixel_loss: str, student_images, teacher_images, mapped_features,
                       teacher_features) -> dict:
  """The distillation losses: reconstruction (GAN Compression eq. 2) and feature (eq. 3)."""
  feature_errors = [jnp.mean(jnp.square(s - t)) for s, t in zip(mapped_features, teacher_features)]
  return {'reconstruction_loss': common.PIXEL_LOSSES[pixel_loss](student_images, teacher_images),
          'feature_loss': jnp.mean(jnp.stack(feature_errors))}


def _student_family(config: ml_collections.ConfigDict) -> str:
  """The teacher run's family (configs/distill.py's preset); 'gan' for runs written before the
  field."""
  return config.distill.get('student_family', 'gan')


def _check_config(config: ml_collections.ConfigDict) -> None:
  distill = config.distill
  kind = _student_family(config)
  if kind not in distill_teachers.RULES:
    raise config_lib.ConfigError(
        f'config.distill.student_family={kind!r}: distilling {kind!r} runs is not built; '
        f'the rules are for {sorted(distill_teachers.RULES)}.')
  if not distill.teacher:
    raise config_lib.ConfigError(f'config.distill.teacher is empty: pass the --workdir of a '
                                 f'trained {kind!r} run (--config.distill.teacher=DIR).')
  if not os.path.exists(os.path.join(distill.teacher, 'config.json')):
    raise config_lib.ConfigError(f'config.distill.teacher={distill.teacher!r} is not a run '
                                 'directory (no config.json): pass the --workdir of a trained '
                                 f'{kind!r} run.')
  if not distill.width_multiplier > 0:
    raise config_lib.ConfigError('config.distill.width_multiplier must be > 0, got '
                                 f'{distill.width_multiplier}.')
  if distill.discriminator_init not in DISCRIMINATOR_INITS:
    raise config_lib.ConfigError(f'Unknown config.distill.discriminator_init '
                                 f'{distill.discriminator_init!r}; choose one of '
                                 f'{DISCRIMINATOR_INITS}.')
  if config.gan.get('n_critic', 1) != 1:
    raise config_lib.ConfigError(f'config.gan.n_critic={config.gan.n_critic}: distillation '
                                 'takes one D update per step (n_critic=1).')
  weights = ('reconstruction_weight', 'feature_weight', 'adversarial_weight')
  common.check_objective_terms(config.objective, 'pixel_loss',
                               weights + (('target_weight',) if 'target_weight' in
                                          config.objective else ()))
  has_targets = distill_teachers.RULES[kind].has_targets
  if config.objective.get('target_weight') and not has_targets:
    raise config_lib.ConfigError(f'config.objective.target_weight: {kind!r} data has no targets; '
                                 'set it to 0.')


def scaled_widths(widths, multiplier: float) -> tuple[int, ...]:
  """A student's widths: the teacher's `widths` times `multiplier`, rounded, at least 1."""
  return tuple(max(1, round(w * multiplier)) for w in widths)


def scaled_model_widths(teacher_config: ml_collections.ConfigDict, multiplier: float) -> dict:
  """{field: widths} of a student of `multiplier`: each config.model width field of the teacher
  family's generator (its rule's) that the teacher's config sets, times `multiplier` (an int
  field, or a tuple of widths)."""
  fields = distill_teachers.RULES[teacher_config.family].width_fields
  widths = {}
  for field in fields:
    value = teacher_config.model.get(field)
    if isinstance(value, int):
      widths[field] = scaled_widths((value,), multiplier)[0]
    elif value:
      widths[field] = scaled_widths(value, multiplier)
  return widths


def _student_config(config, teacher_config, rule) -> ml_collections.ConfigDict:
  """The config of the student as a run of the teacher's family: the teacher's blocks the rule
  names (its objective: they build its D), the widths unset here scaled from the teacher's."""
  student = ml_collections.ConfigDict(config.to_dict())
  student.family = teacher_config.family
  for block in rule.copied_blocks:
    if block in teacher_config:
      student[block] = ml_collections.ConfigDict(teacher_config[block].to_dict())
  scaled = scaled_model_widths(teacher_config, config.distill.width_multiplier)
  for field in rule.width_fields:
    if not student.model.get(field):  # unset: None, () or, read from config.json, []
      student.model[field] = scaled.get(field, ())
  student.lock()
  return student


class DistillationFamily:
  """A narrow generator trained against a frozen teacher run's generator (module doc)."""

  def __init__(self, config: ml_collections.ConfigDict):
    _check_config(config)
    self.config = config
    self.teacher = families.make(runs.load_config(config.distill.teacher))
    distill_teachers.check_teacher(_student_family(config), config, self.teacher)
    rule_class = distill_teachers.RULES[self.teacher.config.family]
    self.student = families.make(_student_config(config, self.teacher.config, rule_class))
    self.rule = rule_class(self.student)
    distill_teachers.check_student_matches(config, self.teacher, self.student, self.rule)
    self.capabilities = self.rule.capabilities | {'frozen', 'warm_start'}
    self.generator_name, self.discriminator_name = self.rule.networks
    self.critic = self.student.critic
    if config.objective.adversarial_weight and self.critic is None:
      raise config_lib.ConfigError(
          f'config.objective.adversarial_weight={config.objective.adversarial_weight}, but the '
          "teacher's family has no discriminator here "
          f'({distill_teachers.teacher_location(config)}): set it to 0.')
    if base.has(self.student, 'generate'):
      self.latent_dim, self.label_classes = self.student.latent_dim, self.student.label_classes
    if base.has(self.student, 'translate'):
      self.tileable = self.student.tileable
    self.teacher_generator = rule_class.generator_of(self.teacher)[0]
    example = self.rule.example_inputs(self.example_batch(base.phases(self)[0]))
    teacher_widths = distillation.feature_widths(self.teacher_generator, *example,
                                                 **self.rule.inference_mode)
    student_widths = distillation.feature_widths(self.rule.generator, *example,
                                                 **self.rule.inference_mode)
    if len(teacher_widths) != len(student_widths):
      raise config_lib.ConfigError(
          f'The student has {len(student_widths)} feature layers, the teacher '
          f'{len(teacher_widths)}: {self.rule.layers_hint(self.teacher.config)}.')
    self.feature_maps = distillation.FeatureMaps(tuple(teacher_widths))

  # Protocol: shapes, identity, state.

  def example_batch(self, phase: base.Phase) -> base.Batch:
    return self.student.example_batch(phase)

  def fingerprint(self) -> dict:
    return {**self.student.fingerprint(), 'family': 'distill',
            'teacher_feature_widths': list(self.feature_maps.widths)}

  def init(self, rng: jax.Array, batch: base.Batch) -> TrainState:
    """The student family's G (and D) as it initializes them, and the feature maps."""
    student_rng, maps_rng = jax.random.split(rng)
    state = self.student.init(student_rng, batch)
    networks = {name: state.networks[name] for name in self.rule.networks
                if name in state.networks}
    g = networks[self.generator_name]
    _, features, _ = self.rule.apply(self.rule.generator, g.variables(),
                                     self.rule.example_inputs(batch), False, None, ())
    maps = NetworkState.create(self.feature_maps.init(maps_rng, features),
                               self.rule.generator_optimizer, ema=False)
    return TrainState.create({**networks, 'feature_maps': maps})

  @functools.cached_property
  def _teacher_state(self) -> TrainState:
    """The teacher run's checkpoint (distill.teacher_step, default latest) on the host, read
    once for its generator (frozen_params) and discriminator (warm_start)."""
    return jax.device_get(runs.load_run(self.config.distill.teacher,
                                        self.config.distill.teacher_step)[2])

  def frozen_params(self) -> dict:
    """The teacher's generator in inference form (EMA parameters and its batch statistics),
    and the student family's own frozen networks (e.g. VGG16 for LPIPS)."""
    teacher = self._teacher_state.networks[self.generator_name]
    return {**base.frozen_params(self.student),
            'teacher_generator': teacher.variables(ema=bool(jax.tree.leaves(teacher.ema_params)))}

  def warm_start(self, state: TrainState) -> TrainState:
    """With distill.discriminator_init='teacher', D (parameters and collections) from the
    teacher's, with a fresh optimizer state."""
    name = self.discriminator_name
    if self.config.distill.discriminator_init != 'teacher' or name not in state.networks:
      return state
    old = state.networks[name]
    teacher = self._teacher_state.networks.get(name)
    if teacher is None or (jax.tree.map(np.shape, teacher.variables())
                           != jax.tree.map(np.shape, old.variables())):
      raise config_lib.ConfigError(
          "config.distill.discriminator_init='teacher', but the student's discriminator is not "
          "the teacher's (config.model's discriminator fields, config.gan, the teacher's "
          "adversarial weight): use the teacher's discriminator config or 'fresh'.")
    discriminator = NetworkState.create(teacher.variables(), self.critic.optimizer, ema=False)
    # Own buffers for every leaf: the step donates them.
    discriminator = jax.tree.map(lambda new, like: jax.device_put(jnp.array(new), like.sharding),
                                 discriminator, old)
    return state.replace(networks={**state.networks, name: discriminator})

  # Training.

  def _student_pass(self, g: NetworkState, params, inputs, rng):
    """(float32 images, features, updated collections) of the student in training mode."""
    images, features, collections = self.rule.apply(
        self.rule.generator, g.variables(params), inputs, True, rng, list(g.collections))
    return images.astype(jnp.float32), features, {**g.collections, **collections}

  def train_step(self, state: TrainState, batch: base.Batch, rng: jax.Array):
    objective = self.config.objective
    input_rng, d_rng, g_rng = jax.random.split(rng, 3)
    inputs = self.rule.inputs(batch, input_rng)
    noise_rng = input_rng  # the student's dropout (pix2pix), the same in both of its passes
    real = self.rule.real(batch, inputs)
    target = self.rule.target(batch)
    teacher_images, teacher_features, _ = self.rule.apply(
        self.teacher_generator, state.frozen['teacher_generator'], inputs, False, None, ())
    teacher_images = teacher_images.astype(jnp.float32)
    teacher_features = [f.astype(jnp.float32) for f in teacher_features]
    g, d = state.networks[self.generator_name], state.networks.get(self.discriminator_name)

    metrics, networks = {}, {}
    if d is not None:
      fake = self._student_pass(g, g.params, inputs, noise_rng)[0]
      d, metrics = adversarial.discriminator_update(
          self.critic, d, real, adversarial.Scored(fake, self.rule.condition(inputs)), d_rng,
          update_index=state.step)
      networks[self.discriminator_name] = d

    def generator_objective(params, data, rngs):
      inputs, teacher_images, teacher_features, real, target = data
      g_rng, noise_rng = rngs
      images, features, collections = self._student_pass(g, params['generator'], inputs,
                                                         noise_rng)
      mapped = self.feature_maps.apply({'params': params['feature_maps']}, features)
      terms = distillation_terms(objective.pixel_loss, images, teacher_images, mapped,
                                 teacher_features)
      total = (objective.reconstruction_weight * terms['reconstruction_loss']
               + objective.feature_weight * terms['feature_loss'])
      if d is not None:
        terms['adversarial_loss'] = adversarial.generator_adversarial_loss(
            self.critic, d, adversarial.Scored(images, self.rule.condition(inputs)), g_rng,
            real=real)
        total += objective.adversarial_weight * terms['adversarial_loss']
      if target is not None:
        terms['target_loss'] = common.PIXEL_LOSSES[objective.pixel_loss](images, target)
        total += objective.target_weight * terms['target_loss']
      return total, (terms, collections)

    params = {'generator': g.params, 'feature_maps': state.feature_maps.params}
    (total, (terms, collections)), grads = gradients.value_and_grad(
        generator_objective, params, (inputs, teacher_images, teacher_features, real, target),
        (g_rng, noise_rng), gradients.microbatches(self.config))
    optimizer = self.rule.generator_optimizer
    networks[self.generator_name] = g.apply_gradients(
        grads['generator'], optimizer, collections=collections,
        ema_decay=self.config.train.ema_decay)
    networks['feature_maps'] = state.feature_maps.apply_gradients(grads['feature_maps'],
                                                                  optimizer)
    metrics = {'generator_loss': total, **terms, **metrics, **self._learning_rates(state.step)}
    return state.update(**networks), metrics

  def _learning_rates(self, step) -> dict:
    schedules = {'generator': self.config.optim.generator}
    if self.critic is not None:
      schedules['discriminator'] = self.config.optim.discriminator
    return {f'{name}_learning_rate': optim.make_schedule(block, self.config.train.num_steps)(step)
            for name, block in schedules.items()}

  # Applying the trained student.

  def generate(self, state: TrainState, z: jax.Array, labels: jax.Array | None = None
               ) -> jax.Array:
    """Images from latents with the student's EMA generator (the GAN family's generate)."""
    return self.student.generate(state, z, labels)

  def sample(self, state: TrainState, rng: jax.Array, num: int) -> jax.Array:
    return self.student.sample(state, rng, num)

  def translate(self, state: TrainState, inputs: jax.Array) -> jax.Array:
    """uint8 inputs -> [-1, 1] outputs of the student's EMA generator, as the teacher's family
    translates (a CycleGAN student: A -> B)."""
    return self.rule.translate(state, inputs)

  def image_grids(self, state: TrainState, rng: jax.Array, batch: base.Batch) -> dict:
    return self.rule.image_grids(state, rng, batch)

  def eval_metrics(self, state: TrainState, batch: base.Batch, rng: jax.Array) -> dict:
    """The teacher family's held-out metrics of the student, and teacher_psnr: PSNR of the
    student's uint8 outputs against the teacher's, on the same inputs."""
    metrics = dict(self.rule.eval_metrics(state, batch, rng))
    inputs = self.rule.inputs(batch, None)
    teacher = self.rule.apply(self.teacher_generator, state.frozen['teacher_generator'], inputs,
                              False, None, ())[0]
    student = self.translate(state, self.rule.sources(batch))
    metrics['teacher_psnr'] = image_quality.psnr(image_lib.to_uint8(student),
                                                 image_lib.to_uint8(jnp.clip(teacher, -1, 1)))
    return metrics

  def eval_protocol(self) -> dict:
    return {**self.rule.eval_protocol(),
            'teacher_psnr': "PSNR of the student's uint8 outputs against the teacher's EMA "
                            "generator's on the same held-out inputs, peak 255, all channels"}
