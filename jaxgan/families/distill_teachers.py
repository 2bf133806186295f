"""What distillation (jaxgan/families/distill.py) does differently per teacher family: one rule
each, for the families built so far, and the checks that a teacher run and a student fit.

A rule knows its family's generator: which config.model fields hold its widths, which network
names its state uses for G and D (the student's state uses the same, so the teacher family's
translate and eval_metrics run on the student's state), what it is applied to (latents, or the
batch's input images) and how it is called, what D sees as real and beside the images, and the
ground truth a batch carries. A student run of a 'generate' teacher samples and generates; of a
'translate' teacher it translates, evaluates and draws grids as the teacher's family does, except
a CycleGAN student, which holds the A -> B generator alone (GAN Compression distills that
direction only): it translates A -> B, and its held-out metrics are those of A -> B.
"""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgan import config_lib
from jaxgan.adversarial import updates as adversarial
from jaxgan.data import images as image_lib
from jaxgan.evaluation import image_quality
from jaxgan.families import base
from jaxgan.families import common
from jaxgan.models import distillation
from jaxgan.training import mesh as mesh_lib


def _get(config: ml_collections.ConfigDict, dotted: str):
  for name in dotted.split('.'):
    config = config.get(name) if config is not None else None
  return config


class Rule:
  """The defaults: a 'translate' teacher whose state holds 'generator' (+ 'discriminator')."""

  capability = 'translate'
  capabilities = frozenset({'translate', 'image_grids', 'eval_metrics'})
  networks = ('generator', 'discriminator')  # G, D: in the teacher's state and the student's
  width_fields: tuple[str, ...] = ()  # config.model fields scaled by distill.width_multiplier
  copied_blocks = ('objective',)  # the teacher config's blocks the student family is built with
  matched_fields = ('data.image_size', 'data.channels', 'model.generator')
  has_targets = True

  inference_mode = {'train': False}  # the generator's keyword arguments out of training

  def __init__(self, family):
    self.student = family  # the family of the student's networks (the teacher's family)
    self.generator, self.generator_optimizer = self.generator_of(family)

  @staticmethod
  def generator_of(family) -> tuple:
    """(G's module, G's optimizer) of a family of the rule's kind."""
    return family.generator, family.g_optimizer

  def layers_hint(self, teacher_config) -> str:
    """What to change when the student's feature layers are not as many as the teacher's."""
    del teacher_config
    return ("keep the teacher's config.model fields other than its widths (depth, num_blocks, "
            'norm)')

  def matched(self, config, family) -> dict:
    """Fields that must be the teacher's: {name: value} of a config and its family."""
    return {field: _get(config, field) for field in self.matched_fields}

  # Training: what the generators see and what D scores.

  def sources(self, batch):
    return batch['input']

  def inputs(self, batch, rng) -> tuple:
    del rng
    return (image_lib.normalize_images(self.sources(batch)),)

  def example_inputs(self, batch) -> tuple:
    return self.inputs(jax.tree.map(lambda x: jnp.zeros((1, *x.shape[1:]), x.dtype), batch),
                       None)

  def apply(self, generator, variables, inputs, train: bool, rng, mutable):
    """(images, features, updated collections) of `generator` on `inputs`."""
    del rng
    return distillation.apply_with_features(generator, variables, *inputs, train=train,
                                            mutable=mutable)

  def condition(self, inputs):
    """What D sees beside an image: nothing."""
    del inputs
    return None

  def real(self, batch, inputs) -> adversarial.Scored:
    return adversarial.Scored(image_lib.normalize_images(batch['target']),
                              self.condition(inputs))

  def target(self, batch):
    return image_lib.normalize_images(batch['target']) if self.has_targets else None

  # The trained student (its state's networks named as the teacher family's).

  def translate(self, state, inputs):
    return self.student.translate(state, inputs)

  def eval_metrics(self, state, batch, rng) -> dict:
    return self.student.eval_metrics(state, batch, rng)

  def eval_protocol(self) -> dict:
    return self.student.eval_protocol()

  def image_grids(self, state, rng, batch) -> dict:
    return self.student.image_grids(state, rng, batch)


class SuperResolution(Rule):
  """SRResNet, RRDB (and SRGAN's or ESRGAN's critic, when the teacher has one)."""
  width_fields = ('features', 'block_widths', 'growth')  # growth: RRDB's dense-block width
  copied_blocks = ('sr',)
  matched_fields = Rule.matched_fields + ('data.degradation.factor',)
  inference_mode = {}  # no normalization, no dropout: one mode

  def apply(self, generator, variables, inputs, train: bool, rng, mutable):
    del train, rng
    return distillation.apply_with_features(generator, variables, *inputs, mutable=mutable)


class Pix2Pix(Rule):
  """pix2pix's U-Net (dropout in training mode) and its conditional PatchGAN."""
  width_fields = ('features', 'max_features', 'down_widths', 'up_widths')

  def matched(self, config, family) -> dict:
    return {**super().matched(config, family),
            'input channels': family.example_batch(_one(config))['input'].shape[-1]}

  def apply(self, generator, variables, inputs, train: bool, rng, mutable):
    rngs = {'dropout': rng} if train else {}
    return distillation.apply_with_features(generator, variables, *inputs, train=train,
                                            rngs=rngs, mutable=mutable)

  def condition(self, inputs):
    return inputs[0] if self.student.config.model.conditional_d else None


class CycleGan(Rule):
  """CycleGAN's A -> B ResNet generator alone and D_B (GAN Compression distills A -> B)."""
  capabilities = frozenset({'translate', 'image_grids', 'eval_metrics'})
  networks = ('generator_ab', 'discriminator_b')
  width_fields = ('features', 'block_widths')
  matched_fields = ('data.image_size', 'data.channels', 'data.other.channels', 'model.generator')
  has_targets = False

  @staticmethod
  def generator_of(family) -> tuple:
    return family.generators['generator_ab'], family.g_optimizer

  def sources(self, batch):
    return batch['a']['image']

  def real(self, batch, inputs) -> adversarial.Scored:
    return adversarial.Scored(image_lib.normalize_images(batch['b']['image']))

  def translate(self, state, inputs):
    return self.student.translate_direction(state, inputs, 'a2b')

  def eval_metrics(self, state, batch, rng) -> dict:
    """PSNR and SSIM of A -> B against the truth where the held-out splits correspond
    (config.data.paired_test); else none of its own (the family adds the teacher's PSNR)."""
    del rng
    if not self.student.config.data.paired_test:
      return {}
    outputs = image_lib.to_uint8(self.translate(state, batch['a']['image']))
    target = batch['b']['image']
    return {'psnr_a2b': image_quality.psnr(outputs, target),
            'ssim_a2b': image_quality.ssim(outputs, target)}

  def eval_protocol(self) -> dict:
    protocol = {'outputs': 'EMA A -> B generator, quantized to uint8'}
    if self.student.config.data.paired_test:
      protocol['psnr_a2b'] = self.student.eval_protocol()['psnr']
      protocol['ssim_a2b'] = self.student.eval_protocol()['ssim']
    return protocol

  def image_grids(self, state, rng, batch) -> dict:
    """One row per example: a | its A -> B translation."""
    del rng
    a = batch['a']['image']
    channels = max(a.shape[-1], batch['b']['image'].shape[-1])
    rows = [image_lib.normalize_images(a), self.translate(state, a)]
    return {'a_a2b': jnp.concatenate([common.with_channels(x, channels) for x in rows], axis=2)}


class Gan(Rule):
  """A GAN generator from latents (and labels); its students sample and generate."""
  capability = 'generate'
  capabilities = frozenset({'sample', 'generate'})
  width_fields = ('generator_widths',)
  copied_blocks = ()
  has_targets = False

  @staticmethod
  def generator_of(family) -> tuple:
    return family.generator, family.generator_optimizer

  def layers_hint(self, teacher_config) -> str:
    return ("give config.model.generator_widths as many widths as the teacher's "
            f'{list(teacher_config.model.generator_widths)}')

  def matched(self, config, family) -> dict:
    return {'data.image_size': config.data.image_size, 'data.channels': config.data.channels,
            'model.latent_dim': family.latent_dim,
            'label classes (model.conditioning, model.num_classes)': family.label_classes,
            'model.name': config.model.name}

  def labels(self, labels):
    return labels if self.student.label_classes else None

  def inputs(self, batch, rng) -> tuple:
    z_rng, label_rng = jax.random.split(rng)
    num = batch['image'].shape[0]
    z = jax.random.normal(z_rng, (num, self.student.latent_dim))
    labels = self.labels(jax.random.randint(label_rng, (num,), 0,
                                            max(self.student.label_classes, 1)))
    return mesh_lib.constrain_to_batch((z, labels))  # split like the batch, not replicated

  def example_inputs(self, batch) -> tuple:
    del batch
    return (np.zeros((1, self.student.latent_dim), np.float32),
            self.labels(np.zeros(1, np.int32)))

  def condition(self, inputs):
    return inputs[1]

  def real(self, batch, inputs) -> adversarial.Scored:
    del inputs
    return adversarial.Scored(image_lib.normalize_images(batch['image']),
                              self.labels(batch['label']))


def _one(config):
  """The phase of one example at config.data's image size (for example batches)."""
  return base.Phase('example', 1, 1, config.data.image_size)


# config.distill.student_family (the teacher run's family) -> its rule.
RULES = {'gan': Gan, 'super_resolution': SuperResolution, 'pix2pix': Pix2Pix,
         'unpaired_translation': CycleGan}


def teacher_location(config) -> str:
  return f'config.distill.teacher={config.distill.teacher!r}'


def check_teacher(kind: str, config, teacher) -> None:
  """One line for a teacher run that a config distilling `kind` runs cannot distill."""
  rule = RULES[kind]
  family = teacher.config.family
  if not base.has(teacher, rule.capability):
    raise config_lib.ConfigError(
        f'{teacher_location(config)} is a {family!r} run, which has no {rule.capability!r} '
        f'capability: this config distills {kind!r} runs, which do.')
  if family not in RULES:
    raise config_lib.ConfigError(
        f'{teacher_location(config)} is a {family!r} run: distilling it is not built (the '
        f'rules are for {sorted(RULES)}).')
  if family != kind:
    raise config_lib.ConfigError(
        f'{teacher_location(config)} is a {family!r} run, but this config distills {kind!r} '
        "runs: use configs/distill.py's preset of the teacher's config.")


def check_student_matches(config, teacher, student, rule) -> None:
  """One line for a student whose inputs or images are not the teacher's."""
  mine, theirs = rule.matched(config, student), rule.matched(teacher.config, teacher)
  for field, value in mine.items():
    if value != theirs[field]:
      raise config_lib.ConfigError(f"The student's {field} is {value!r} but the teacher's "
                                   f'({teacher_location(config)}) is {theirs[field]!r}: they '
                                   "must match; use the configs/distill.py preset of the "
                                   "teacher's config, or set the student's field to the "
                                   "teacher's.")
