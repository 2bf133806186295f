"""LSGAN: least-squares loss (a=0, b=c=1), DCGAN architecture and optimizer.

Mao et al. 2017 (arXiv:1611.04076); the paper uses Adam(2e-4, b1=0.5) like DCGAN, so only the
loss differs from configs/dcgan.py.

  python -m jaxgan.main --config=configs/lsgan.py --workdir=/tmp/lsgan
"""
from jaxgan import config_lib

common = config_lib.sibling_module(__file__, 'common')


def get_config(arg: str | None = None):
  config = common.load('dcgan', arg)
  config.gan.loss = 'least_squares'
  return config
