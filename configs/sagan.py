"""SAGAN: self-attention in G and D, spectral norm in both, TTUR, hinge loss, projection D.

Zhang et al. 2018 (arXiv:1805.08318): conditional ResNet (configs/cgan.py) with a self-attention
block at half the image side in G and D, spectral norm in G as well as D, one D step per G step
and the two time-scale update rule (Heusel et al. 2017, arXiv:1706.08500): Adam(b1=0, b2=0.9)
with learning rates 1e-4 (G) and 4e-4 (D), constant.

  python -m jaxgan.main --config=configs/sagan.py --workdir=/tmp/sagan
"""
from jaxgan import config_lib

common = config_lib.sibling_module(__file__, 'common')


def get_config(arg: str | None = None):
  config = common.load('cgan', arg)
  config.model.attention_resolution = config.data.image_size // 2
  config.model.generator_spectral_norm = True
  config.gan.n_critic = 1
  config.train.batch_size = 64
  for network, learning_rate in (('generator', 1e-4), ('discriminator', 4e-4)):
    common.set_adam(config, network, learning_rate, b1=0.0, b2=0.9)
    config.optim[network].schedule = 'constant'
  return config
