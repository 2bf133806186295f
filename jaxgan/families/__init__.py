"""Model families: each supplies pure init / train_step / sample functions for the one trainer.

A family is built from the config by `make(config)` and exposes:
  init(rng, batch) -> state                       (state.step is the number of updates done)
  train_step(state, batch, rng) -> (state, metrics)
  sample(state, rng, num) -> images in [-1, 1], NHWC
  fingerprint() -> dict identifying the model, stored with checkpoints to refuse a mismatch.
"""
import ml_collections

from jaxgan.families import gan

FAMILIES = {'gan': gan.GanFamily}


def make(config: ml_collections.ConfigDict):
  if config.family not in FAMILIES:
    raise ValueError(f'Unknown config.family {config.family!r}; choose one of {sorted(FAMILIES)}.')
  return FAMILIES[config.family](config)
