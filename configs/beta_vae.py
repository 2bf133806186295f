"""beta-VAE (Higgins et al. 2017, ICLR, "beta-VAE: Learning Basic Visual Concepts with a
Constrained Variational Framework"): the VAE of configs/vae.py with the KL weighted by beta = 4.

The training loss is -(E_q log p(x|z) - beta KL); the reported neg-ELBO, IWAE NLL and bits/dim
are still those of the model (beta = 1 terms), so they compare directly with the plain VAE.

Usage:
  python -m jaxgan.main --config=configs/beta_vae.py --workdir=/tmp/beta_vae
  python -m jaxgan.main --config=configs/beta_vae.py --config.vae.beta=10 --workdir=/tmp/b10
"""
import ml_collections

from jaxgan import config_lib

vae = config_lib.sibling_module(__file__, 'vae')


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """configs/vae.py (same dataset presets) with beta = 4."""
  config = vae.get_config(arg)
  config.vae.beta = 4.0
  return config
