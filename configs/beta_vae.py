"""beta-VAE (Higgins et al. 2017, ICLR, "beta-VAE: Learning Basic Visual Concepts with a
Constrained Variational Framework"): the VAE of configs/vae.py with the KL weighted by beta = 4.

The training loss is -(E_q log p(x|z) - beta KL); the reported neg-ELBO, IWAE NLL and bits/dim
are still those of the model (beta = 1 terms), so they compare directly with the plain VAE.

Usage:
  python -m jaxgan.main --config=configs/beta_vae.py --workdir=/tmp/beta_vae
  python -m jaxgan.main --config=configs/beta_vae.py --config.vae.beta=10 --workdir=/tmp/b10
"""
import importlib.util
import os

import ml_collections


def _vae_config(arg):
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'vae.py')
  spec = importlib.util.spec_from_file_location('_jaxgan_vae_config', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """configs/vae.py (same dataset presets) with beta = 4."""
  config = _vae_config(arg)
  config.vae.beta = 4.0
  return config
