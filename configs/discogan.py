"""DiscoGAN (Kim et al. 2017, arXiv:1703.05192) on CycleGAN's tasks (configs/cyclegan.py).

Encoder-decoder generators (4x4 stride-2 convolutions down to 4x4 and transposed ones back, no
skips, batch norm), image-level discriminators (4x4 stride-2 convolutions and one logit), the
standard (non-saturating) GAN loss and the reconstruction loss |G_BA(G_AB(a)) - a|^2 (and for b)
with weight 1, as the paper's L_G = L_GAN + L_CONST in each direction; no identity loss, no
image pool, a constant Adam(2e-4, 0.5, 0.999). The reference code also adds feature matching
and a weight-decay term; this config keeps the paper's objective. D scores real and generated
images in one batch-norm pass (the reference calls it twice).

Presets: those of configs/cyclegan.py (digits, mri, horse2zebra).
"""
from jaxgan import config_lib

cyclegan = config_lib.sibling_module(__file__, 'cyclegan')


def get_config(arg: str | None = None):
  """Returns the locked DiscoGAN config; `arg` names a preset of configs/cyclegan.py."""
  config = cyclegan.get_config(arg)
  config.unlock()
  size = config.data.image_size
  config.model.generator = 'encoder_decoder'
  config.model.features = 2 * config.model.features  # no residual blocks: wider layers
  config.model.depth = {32: 3, 64: 4}.get(size, 6)  # down to 4x4
  config.model.norm = 'batch'
  config.model.discriminator = 'image'
  config.model.d_features = config.model.features
  config.model.d_layers = config.model.depth
  config.model.d_norm = 'batch'
  config.objective.cycle_loss = 'l2'
  config.objective.cycle_weight = 1.0
  config.objective.identity_weight = 0.0
  config.objective.adversarial_weight = 1.0
  config.gan.loss = 'non_saturating'
  config.gan.pool_size = 0
  for network in ('generator', 'discriminator'):
    config.optim[network].schedule = 'constant'
  config.lock()
  return config
