"""AC-GAN: class-conditional G and a D with an auxiliary classifier head.

Odena et al. 2017 (arXiv:1610.09585): D predicts real/fake and the class; both networks add the
class log-likelihood to their objective (non-saturating loss, as in the paper). Architecture: the
ResNet of configs/hinge_resnet.py (spectral-norm D, n_dis = 5), with conditional batch norm in G.
Sample grids are 10 x 10 with class k in row k.

  python -m jaxgan.main --config=configs/acgan.py --workdir=/tmp/acgan
"""
from jaxgan import config_lib

common = config_lib.sibling_module(__file__, 'common')


def get_config(arg: str | None = None):
  config = common.load('hinge_resnet', arg)
  config.model.conditioning = 'auxiliary'
  config.model.generator_norm = 'conditional_batch'
  config.gan.loss = 'non_saturating'
  config.gan.classifier_weight = 1.0
  config.train.num_sample_images = config.model.num_classes ** 2
  return config
