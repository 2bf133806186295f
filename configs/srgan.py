"""SRGAN x4 on the bundled photographs (Ledig et al. 2017, arXiv:1609.04802).

SRResNet's generator warm-started from a trained SRResNet run (config.sr.init_from), trained
against SRGAN's VGG-style critic: VGG16 relu5_3 features (after activation; the paper's VGG19
relu5_4 does not ship offline), L1, weight 1; a 1e-2 L1 pixel term that keeps colours (BasicSR's
SRGAN config); 1e-3 non-saturating adversarial loss (the paper's weight). Adam(1e-4) for both.

Usage (after configs/srresnet.py trained in /tmp/srresnet):
  python -m jaxgan.main --config=configs/srgan.py --config.sr.init_from=/tmp/srresnet \
      --workdir=/tmp/srgan
"""
import os

import ml_collections

from jaxgan import config_lib


def gan_stage(config: ml_collections.ConfigDict, perceptual_layer: str,
              adversarial_weight: float, gan_loss: str) -> ml_collections.ConfigDict:
  """Turns a PSNR-oriented SR config into its GAN stage (SRGAN's and ESRGAN's shared recipe):
  1e-2 L1 pixel loss, L1 on VGG16 `perceptual_layer` with weight 1, the adversarial loss, Adam
  1e-4 for both networks, batch 8, 600 steps; the checkpoint kept is the lowest LPIPS (a GAN
  trades PSNR for texture, so its highest PSNR is its first, least trained checkpoint)."""
  config.sr.pixel_weight = 1e-2
  config.sr.perceptual_layer = perceptual_layer
  config.sr.perceptual_loss = 'l1'
  config.sr.perceptual_weight = 1.0
  config.sr.adversarial_weight = adversarial_weight
  config.gan.loss = gan_loss
  config.optim.generator.learning_rate = 1e-4
  config.optim.generator.schedule = 'constant'
  config.optim.discriminator.learning_rate = 1e-4
  config.train.batch_size = 8  # VGG16 and the critic make a step ~10x an SRResNet step
  config.train.num_steps = 600
  config.train.checkpoint_every = 200
  config.train.sample_every = 200
  config.eval.every_steps = 200
  config.eval.best_metric = 'validation_lpips' if 'validation' in config.eval else 'lpips'
  config.eval.best_mode = 'min'
  return config


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """SRGAN over configs/srresnet.py:`arg` (the data preset, default photos)."""
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'srresnet.py')
  config = config_lib.load_config(path + (f':{arg}' if arg else ''))
  return gan_stage(config, 'relu5_3', 1e-3, 'non_saturating')
