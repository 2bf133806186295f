"""Model families: each supplies pure init / train_step / sample functions for the one trainer.

A family is built from the config by `make(config)` and exposes:
  init(rng, batch) -> state                       (state.step is the number of updates done)
  train_step(state, batch, rng) -> (state, metrics)
  sample(state, rng, num) -> images in [-1, 1], NHWC
  fingerprint() -> dict identifying the model, stored with checkpoints to refuse a mismatch.
Likelihood families (vae, pixelcnn) also expose eval_metrics(state, batch, rng) -> per-example
arrays and eval_protocol() -> dict, which jaxgan/likelihood_eval.py averages over a test split.
"""
import ml_collections

from jaxgan.families import gan
from jaxgan.families import pixelcnn
from jaxgan.families import vae

FAMILIES = {'gan': gan.GanFamily, 'vae': vae.VaeFamily, 'pixelcnn': pixelcnn.PixelCnnFamily}


def make(config: ml_collections.ConfigDict):
  if config.family not in FAMILIES:
    raise ValueError(f'Unknown config.family {config.family!r}; choose one of {sorted(FAMILIES)}.')
  return FAMILIES[config.family](config)
