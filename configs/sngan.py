"""SNGAN: the standard CNN (SNDCGAN) with spectral normalization in D.

Miyato et al. 2018 (arXiv:1802.05957), table 3 CNN, setting C of table 1 (Adam(2e-4, b1=0.5,
b2=0.999), n_dis = 1), non-saturating loss, batch norm in G, one power iteration per update.

  python -m jaxgan.main --config=configs/sngan.py --workdir=/tmp/sngan
"""
from jaxgan import config_lib

common = config_lib.sibling_module(__file__, 'common')


def get_config(arg: str | None = None):
  config = common.load('dcgan', arg)
  stages = common.upsampling_stages(config.data.image_size)
  common.set_model(config, 'sndcgan',
                   generator_widths=(512, 256, 128, 64)[-(stages + 1):],
                   discriminator_widths=(64, 128, 256, 512),
                   generator_norm='batch', discriminator_norm='none',
                   generator_spectral_norm=False, discriminator_spectral_norm=True)
  for network in ('generator', 'discriminator'):
    common.set_adam(config, network, 2e-4, b1=0.5, b2=0.999)
  return config
