"""ResNet GAN with spectral norm in D and the hinge loss (the SNGAN CIFAR ResNet).

Miyato et al. 2018 (arXiv:1802.05957), appendix B.4: ResNet G (256 channels, batch norm) and D
(128 channels, spectral norm), hinge loss, Adam(2e-4, b1=0, b2=0.9), n_dis = 5 (a step reads
5 x 64 images), learning rate decayed linearly to 0.

  python -m jaxgan.main --config=configs/hinge_resnet.py --workdir=/tmp/hinge_resnet
"""
from jaxgan import config_lib

common = config_lib.sibling_module(__file__, 'common')


def get_config(arg: str | None = None):
  config = common.load('dcgan', arg)
  stages = common.upsampling_stages(config.data.image_size)
  common.set_model(config, 'resnet',
                   generator_widths=(256,) * (stages + 1), discriminator_widths=(128,) * 4,
                   generator_norm='batch', discriminator_norm='none',
                   generator_spectral_norm=False, discriminator_spectral_norm=True,
                   discriminator_downsample=(True, True, False, False), attention_resolution=0)
  config.gan.loss = 'hinge'
  config.gan.n_critic = 5
  config.train.batch_size = 64 * config.gan.n_critic
  for network in ('generator', 'discriminator'):
    common.set_adam(config, network, 2e-4, b1=0.0, b2=0.9)
    config.optim[network].schedule = 'linear_decay'
  return config
