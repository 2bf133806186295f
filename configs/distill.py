"""Knowledge distillation of a trained generator into a narrower student: GAN Compression
(Li et al. 2020, arXiv:2003.08936, sec. 3.1-3.2) with a fixed student width.

The student is trained by the one trainer (jaxgan/families/distill.py) against a frozen teacher
run: reconstruction of the teacher's outputs for the same inputs (latents, or the batch's input
images), its intermediate features through learned 1x1 convolutions, the GAN loss on real data
and, where the data has targets, the teacher family's own L1 to them.

Usage:
  python -m jaxgan.main --config=configs/dcgan.py --workdir=/tmp/dcgan
  python -m jaxgan.main --config=configs/distill.py:dcgan --config.distill.teacher=/tmp/dcgan \
      --workdir=/tmp/dcgan_student
The optional argument after ':' names the config the teacher was trained with (its default
preset): dcgan (default) or any GAN of the zoo (lsgan, wgan, wgan_gp, sngan, hinge_resnet, cgan,
acgan, sagan, biggan), srresnet, esrgan (RRDB), pix2pix or cyclegan. The student takes that
config's data, discriminator, optimizers, training and evaluation blocks and is a run of the
teacher's family and architecture with the generator widths below times
distill.width_multiplier; its image size, channels (and latent_dim and labels, or scale factor)
must be the teacher's.
"""
import ml_collections

from jaxgan import config_lib

common = config_lib.sibling_module(__file__, 'common')

# preset: (the generator's width fields in config.model, discriminator_init, the objective's
# weights: reconstruction (to the teacher), feature, adversarial, target (where data has targets))
_GAN = (('generator_widths',), 'teacher', (10.0, 1.0, 1.0, None))
_SR = (('features', 'block_widths', 'growth'), 'fresh', (1.0, 1.0, 0.0, 1.0))
_TEACHER_CONFIGS = {
    # Every GAN of the zoo: the student trains D once per step (n_critic set to 1, the batch to
    # the config's images per D update), GAN Compression's D continued beside G.
    **{name: _GAN for name in ('dcgan', 'lsgan', 'wgan', 'wgan_gp', 'sngan', 'hinge_resnet',
                               'cgan', 'acgan', 'sagan', 'biggan')},
    # SRResNet has no discriminator: the adversarial term is off (an SRGAN teacher has one).
    # L1 to the teacher's output and to the HR image, each at SRResNet's own L1 weight.
    'srresnet': _SR,
    # RRDB: a run of esrgan.py:psnr or esrgan.py (the student builds on the PSNR stage's config;
    # a GAN-stage teacher's objective block brings its D, whose term is off here).
    'esrgan': _SR,
    # target: pix2pix's lambda, the L1 to the real target that GAN Compression's distiller uses
    # on paired data (it has no teacher-output term there; reconstruction_weight=0 is that).
    'pix2pix': (('features', 'max_features', 'down_widths', 'up_widths'), 'teacher',
                (10.0, 1.0, 1.0, 100.0)),
    # D_B (judging B images); adversarial 2.0: x jaxgan's 0.5-scaled least-squares loss, as
    # configs/cyclegan.py. No targets in unpaired data.
    'cyclegan': (('features', 'block_widths'), 'teacher', (10.0, 1.0, 2.0, None)),
}

_CONFIG_ARGS = {'esrgan': 'psnr'}  # the preset's config argument (default: none)


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the locked distillation config; `arg` names the teacher's config."""
  preset = arg or 'dcgan'
  if preset not in _TEACHER_CONFIGS:
    raise config_lib.ConfigError(
        f"Unknown distill preset {preset!r} (the part after ':' in --config); choose one of "
        f'{sorted(_TEACHER_CONFIGS)}.')
  width_fields, discriminator_init, weights = _TEACHER_CONFIGS[preset]
  config = common.load(preset, _CONFIG_ARGS.get(preset))
  with config.unlocked():
    if config.get('gan') and config.gan.get('n_critic', 1) > 1:
      config.train.batch_size //= config.gan.n_critic
      config.gan.n_critic = 1
    config.distill = ml_collections.ConfigDict()
    config.distill.student_family = config.family  # the teacher run's family
    config.family = 'distill'
    # Unset (() or None): the teacher's widths times distill.width_multiplier; or explicit
    # widths (a tuple as long as the teacher's).
    for field in width_fields:
      is_tuple = field.endswith('widths')
      config.model[field] = () if is_tuple else ml_collections.config_dict.placeholder(int)

    config.distill.teacher = ''  # the workdir of a trained run of that family (required)
    config.distill.teacher_step = ml_collections.config_dict.placeholder(int)  # None: latest
    config.distill.width_multiplier = 0.5  # e.g. 0.5 or 0.25: widths rounded, at least 1
    # 'teacher': D starts from the teacher's discriminator (same discriminator config needed);
    # 'fresh': from a new initialization.
    config.distill.discriminator_init = discriminator_init

    # The student's objective (GAN Compression eq. 1-4): pixel_loss between student and teacher
    # outputs, mean squared error of the mapped features, the student's GAN loss and, where the
    # data has targets, pixel_loss to them (jaxgan/families/distill.py).
    config.objective = ml_collections.ConfigDict()
    config.objective.pixel_loss = 'l1'  # or 'l2'
    (config.objective.reconstruction_weight, config.objective.feature_weight,
     config.objective.adversarial_weight, target_weight) = weights
    if target_weight is not None:
      config.objective.target_weight = target_weight
  config.lock()
  return config
