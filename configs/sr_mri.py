"""SRResNet x2 on MRI: axial slices of the MNI152 T1 template (nilearn 0.14.1).

Train on slices z in 30..79 and 105..139, choose the best checkpoint on z 145..149 (held back:
configs/blocks.py VALIDATION_SPLITS), test on z in 85..99 (jaxgan/data/image_sets.py), 96x96
crops (the test split: the 2x2 grid of tiles centred in each 233x197 slice, all inside the
head), greyscale, LR by PIL bicubic downscaling x2. The template is an average of 152 brains and
smoother than a single scan, so gains over bicubic here look better than they would on real
scans.

Usage:
  python -m jaxgan.main --config=configs/sr_mri.py --workdir=/tmp/sr_mri
"""
import os

import ml_collections

from jaxgan import config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """configs/srresnet.py:mri with a shorter schedule; `arg` is unused."""
  del arg
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'srresnet.py')
  config = config_lib.load_config(path + ':mri')
  config.train.num_steps = 1000
  return config
