"""The original GAN: fully connected G and D with the minimax loss.

Goodfellow et al. 2014 (arXiv:1406.2661): MLPs, minimax value function (here the `minimax` loss,
G minimizing log(1 - D(G(z)))), one D step per G step. Adam(2e-4, b1=0.5) as in the DCGAN base.

  python -m jaxgan.main --config=configs/gan_mlp.py --workdir=/tmp/gan_mlp
"""
from jaxgan import config_lib

common = config_lib.sibling_module(__file__, 'common')


def get_config(arg: str | None = None):
  config = common.load('dcgan', arg)
  common.set_model(config, 'mlp', generator_widths=(512, 512), discriminator_widths=(512, 256),
                   generator_norm='none', discriminator_norm='none',
                   generator_spectral_norm=False, discriminator_spectral_norm=False)
  config.gan.loss = 'minimax'
  return config
