"""WGAN: Wasserstein loss with weight clipping, DCGAN architecture.

Arjovsky et al. 2017 (arXiv:1701.07875), algorithm 1: critic weights clipped to [-0.01, 0.01],
n_critic = 5 critic updates per G update, RMSProp(5e-5), m = 64 (so a step reads 5 x 64 images).

  python -m jaxgan.main --config=configs/wgan.py --workdir=/tmp/wgan
"""
from jaxgan import config_lib

common = config_lib.sibling_module(__file__, 'common')


def get_config(arg: str | None = None):
  config = common.load('dcgan', arg)
  config.gan.loss = 'wasserstein'
  config.gan.penalty = 'weight_clipping'
  config.gan.clip_value = 0.01
  config.gan.n_critic = 5
  config.train.batch_size = 64 * config.gan.n_critic
  for network in ('generator', 'discriminator'):
    optim = config.optim[network]
    optim.name, optim.learning_rate, optim.b2, optim.eps = 'rmsprop', 5e-5, 0.99, 1e-8
  return config
