"""Shrunk real zoo configs for tests: tiny widths, batch 8 per D update, a few steps."""
import os

from conftest import override
from conftest import REPO
from conftest import TINY_DCGAN
from jaxgan import config_lib

ZOO_CONFIGS = ('dcgan', 'gan_mlp', 'wgan', 'wgan_gp', 'lsgan', 'sngan', 'hinge_resnet', 'cgan',
               'acgan', 'sagan', 'biggan')

# Per architecture: the widths that replace the paper's (depths kept where they set the size).
TINY_WIDTHS = {
    'dcgan': {'model.generator_widths': (16, 8, 4), 'model.discriminator_widths': (4, 8)},
    'mlp': {'model.generator_widths': (16,), 'model.discriminator_widths': (16, 8)},
    'sndcgan': {'model.generator_widths': (16, 8, 4), 'model.discriminator_widths': (4, 8, 8)},
    'resnet': {'model.generator_widths': (8, 8, 8), 'model.discriminator_widths': (8, 8),
               'model.discriminator_downsample': (True, False)},
    'biggan': {'model.generator_widths': (8, 8, 8), 'model.discriminator_widths': (8, 8, 8),
               'model.shared_embedding_dim': 8, 'model.blocks_per_stage': 1},
}
TINY_TRAIN = {key: value for key, value in TINY_DCGAN.items() if key.startswith('train.')}


def tiny_shrink(config) -> dict:
  """The dotted fields that make a zoo `config` tiny: widths, latent 8, batch 8 per D update."""
  shrink = dict(TINY_TRAIN, **TINY_WIDTHS[config.model.name])
  shrink['model.latent_dim'] = 8
  shrink['train.batch_size'] = 8 * config.gan.n_critic
  if config.model.conditioning != 'none':
    shrink['train.num_sample_images'] = config.model.num_classes ** 2
  return shrink


def tiny_zoo_config(name: str, **overrides):
  """configs/<name>.py shrunk by tiny_shrink, then `overrides` ('gan__penalty'='r1' style)."""
  config = config_lib.load_config(os.path.join(REPO, 'configs', f'{name}.py'))
  for dotted, value in tiny_shrink(config).items():
    override(config, dotted, value)
  for key, value in overrides.items():
    override(config, key.replace('__', '.'), value)
  return config
