"""Class-conditional ResNet GAN: conditional batch norm in G, projection discriminator.

Miyato & Koyama 2018 (arXiv:1802.05637): the hinge ResNet of configs/hinge_resnet.py with the
label entering G through conditional batch norm and D through the projection <embed(y), phi(x)>.
Sample grids are 10 x 10 with class k in row k.

  python -m jaxgan.main --config=configs/cgan.py --workdir=/tmp/cgan
"""
from jaxgan import config_lib

common = config_lib.sibling_module(__file__, 'common')


def get_config(arg: str | None = None):
  config = common.load('hinge_resnet', arg)
  config.model.conditioning = 'projection'
  config.model.generator_norm = 'conditional_batch'
  config.train.num_sample_images = config.model.num_classes ** 2
  return config
