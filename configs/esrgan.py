"""ESRGAN x4 on the bundled photographs (Wang et al. 2018, arXiv:1809.00219).

Two runs, as the paper trains: `:psnr` is the PSNR-oriented RRDB network (L1 only), then the
default GAN stage warm-starts from it (config.sr.init_from) and adds VGG16 conv5_3 features
(before activation, their section 3.3), L1, weight 1; 1e-2 L1 pixel loss; 5e-3 relativistic
average GAN loss (their eq. 1-2); Adam(1e-4). `python -m jaxgan.translate --alpha=A
--interpolate_with=PSNR_RUN` interpolates the two networks (their section 3.4).
The paper's RRDB is 64 features x 23 blocks, growth 32; the default (32 x 3, growth 16) is sized
for a 2-core CPU, and adds the bicubic upsampled input to the output (ESRGAN does not) so the
short CPU budget goes to the residual.

Usage:
  python -m jaxgan.main --config=configs/esrgan.py:psnr --workdir=/tmp/rrdb_psnr
  python -m jaxgan.main --config=configs/esrgan.py --config.sr.init_from=/tmp/rrdb_psnr \
      --workdir=/tmp/esrgan
"""
import os

import ml_collections

from jaxgan import config_lib

STAGES = ('gan', 'psnr')


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """`arg`: 'psnr' (the PSNR-oriented stage) or 'gan' (default), optionally ',<data preset>'
  of configs/srresnet.py (e.g. 'psnr,div2k')."""
  stage, _, preset = (arg or 'gan').partition(',')
  if stage not in STAGES:
    raise config_lib.ConfigError(f"Unknown esrgan stage {stage!r} (the part after ':' in "
                                 f'--config); choose one of {STAGES}.')
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'srresnet.py')
  config = config_lib.load_config(path + (f':{preset}' if preset else ''))
  config.model.generator = 'rrdb'
  config.model.features = 32
  config.model.num_blocks = 3
  config.model.growth = 16
  if stage == 'psnr':
    return config
  return config_lib.sibling_module(__file__, 'srgan').gan_stage(config, 'conv5_3', 5e-3,
                                                                'relativistic_average')
