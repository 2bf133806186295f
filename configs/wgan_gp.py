"""WGAN-GP: Wasserstein loss with the gradient penalty, DCGAN architecture.

Gulrajani et al. 2017 (arXiv:1704.00028), algorithm 1: lambda = 10 on random interpolates,
n_critic = 5, Adam(1e-4, b1=0, b2=0.9), m = 64 (a step reads 5 x 64 images). The DCGAN critic has
no batch norm, as the penalty requires.

  python -m jaxgan.main --config=configs/wgan_gp.py --workdir=/tmp/wgan_gp
"""
from jaxgan import config_lib

common = config_lib.sibling_module(__file__, 'common')


def get_config(arg: str | None = None):
  config = common.load('dcgan', arg)
  config.gan.loss = 'wasserstein'
  config.gan.penalty = 'wgan_gp'
  config.gan.penalty_weight = 10.0
  config.gan.n_critic = 5
  config.train.batch_size = 64 * config.gan.n_critic
  for network in ('generator', 'discriminator'):
    common.set_adam(config, network, 1e-4, b1=0.0, b2=0.9)
  return config
