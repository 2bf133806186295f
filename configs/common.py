"""Shared pieces of the GAN-zoo configs: the DCGAN base config and the zoo model block.

Every zoo config starts from configs/dcgan.py (data, optimizers, training and evaluation
blocks, and the gan-axis fields) and overrides what its paper changes, so that an ablation
differs from the baseline only in the fields it names. Import as
`common = config_lib.sibling_module(__file__, 'common')`, which works from any directory.
"""
import os

import ml_collections

from jaxgan import config_lib

blocks = config_lib.sibling_module(__file__, 'blocks')

_HERE = os.path.dirname(os.path.abspath(__file__))


def load(name: str, arg: str | None) -> ml_collections.ConfigDict:
  """configs/<name>.py:get_config(arg), e.g. load('dcgan', 'cifar10')."""
  return config_lib.load_config(os.path.join(_HERE, f'{name}.py') + (f':{arg}' if arg else ''))


def upsampling_stages(image_size: int) -> int:
  """Number of 2x upsamplings from the smallest even-halving start side >= 4 (28: 2 from 7x7;
  32: 3 from 4x4; 64: 4 from 4x4)."""
  stages = 0
  while image_size % 2 == 0 and image_size // 2 >= 4:
    image_size //= 2
    stages += 1
  return stages


def set_model(config: ml_collections.ConfigDict, name: str, generator_widths,
              discriminator_widths, generator_norm: str, discriminator_norm: str,
              generator_spectral_norm: bool, discriminator_spectral_norm: bool,
              **extra) -> None:
  """Replaces config.model by a zoo architecture's block, keeping latent_dim, conditioning,
  num_classes and compute_dtype of the base. `extra` adds architecture-specific fields."""
  base = config.model
  model = ml_collections.ConfigDict()
  model.name = name
  model.latent_dim = base.latent_dim
  model.generator_widths = tuple(generator_widths)
  model.discriminator_widths = tuple(discriminator_widths)
  model.generator_norm = generator_norm  # none | batch | layer | conditional_batch
  model.discriminator_norm = discriminator_norm  # none | batch | layer
  model.generator_spectral_norm = generator_spectral_norm
  model.discriminator_spectral_norm = discriminator_spectral_norm
  model.spectral_norm_steps = 1  # power iterations per training call (Miyato et al.: 1)
  model.conditioning = base.conditioning
  model.num_classes = base.num_classes
  model.compute_dtype = base.compute_dtype
  for key, value in extra.items():
    model[key] = value
  with config.unlocked():
    config.model = model
  config.lock()


def set_adam(config: ml_collections.ConfigDict, network: str, learning_rate: float, b1: float,
             b2: float) -> None:
  """Replaces one network's optimizer by Adam (eps 1e-8, constant learning rate)."""
  config.optim[network] = blocks.adam(learning_rate, b1, b2, eps=1e-8)
