"""Knowledge distillation of a trained generator into a narrower student: GAN Compression
(Li et al. 2020, arXiv:2003.08936, sec. 3.1-3.2) with a fixed student width.

The student is trained by the one trainer (jaxgan/families/distill.py) against a frozen teacher
run: reconstruction of the teacher's outputs for the same latents, its intermediate features
through learned 1x1 convolutions, and the GAN loss on real data.

Usage:
  python -m jaxgan.main --config=configs/dcgan.py --workdir=/tmp/dcgan
  python -m jaxgan.main --config=configs/distill.py:dcgan --config.distill.teacher=/tmp/dcgan \
      --workdir=/tmp/dcgan_student
The optional argument after ':' names the config the teacher was trained with: dcgan (default,
its mnist_5k preset). The student takes that config's data, discriminator, optimizers, training
and evaluation blocks; latent_dim, image size and labels must be the teacher's.
"""
import ml_collections

from jaxgan import config_lib

common = config_lib.sibling_module(__file__, 'common')

_TEACHER_CONFIGS = ('dcgan',)


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the locked distillation config; `arg` names the teacher's config."""
  preset = arg or 'dcgan'
  if preset not in _TEACHER_CONFIGS:
    raise config_lib.ConfigError(
        f"Unknown distill preset {preset!r} (the part after ':' in --config); choose one of "
        f'{sorted(_TEACHER_CONFIGS)}.')
  config = common.load(preset, None)
  with config.unlocked():
    config.family = 'distill'
    # (): the teacher's generator widths times distill.width_multiplier; or explicit widths,
    # as many as the teacher's.
    config.model.generator_widths = ()

    config.distill = ml_collections.ConfigDict()
    config.distill.teacher = ''  # the workdir of a trained GAN run (required)
    config.distill.teacher_step = ml_collections.config_dict.placeholder(int)  # None: latest
    config.distill.width_multiplier = 0.5  # e.g. 0.5 or 0.25: widths rounded, at least 1
    # 'teacher': D starts from the teacher's discriminator (same discriminator config needed);
    # 'fresh': from a new initialization.
    config.distill.discriminator_init = 'teacher'

    # The student's objective (GAN Compression eq. 1-4): pixel_loss between student and teacher
    # outputs, mean squared error of the mapped features, and the student's GAN loss.
    config.objective = ml_collections.ConfigDict()
    config.objective.pixel_loss = 'l1'  # or 'l2'
    config.objective.reconstruction_weight = 10.0
    config.objective.feature_weight = 1.0
    config.objective.adversarial_weight = 1.0
  config.lock()
  return config
