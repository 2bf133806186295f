"""Model families behind the protocol of jaxgan/families/base.py, built by name from the config.

FAMILIES maps config.family to 'module:Class'; a family's module is imported when a config asks
for it, so importing this package (or base.py) loads no family. A test may register a class
itself: FAMILIES['name'] = Class.
"""
import importlib

import jax
import ml_collections
import numpy as np

from jaxgan import config_lib
from jaxgan.families import base
from jaxgan.training import mesh as mesh_lib

FAMILIES = {
    'gan': 'gan:GanFamily',
    'vae': 'vae:VaeFamily',
    'pixelcnn': 'pixelcnn:PixelCnnFamily',
    'super_resolution': 'super_resolution:SuperResolutionFamily',
    'pix2pix': 'image_to_image:Pix2PixFamily',
    'inpainting': 'image_to_image:InpaintingFamily',
    'unpaired_translation': 'unpaired:UnpairedTranslationFamily',
    'fast_style': 'fast_style:FastStyleFamily',
    'progan': 'progan:ProganFamily',
    'distill': 'distill:DistillationFamily',
}


def family_class(name: str) -> type:
  """The class registered as `name`, its module imported on first use."""
  if name not in FAMILIES:
    raise config_lib.ConfigError(f'Unknown config.family {name!r}; choose one of '
                                 f'{sorted(FAMILIES)}.')
  entry = FAMILIES[name]
  if isinstance(entry, str):
    module, attribute = entry.split(':')
    entry = getattr(importlib.import_module(f'{__name__}.{module}'), attribute)
  return entry


def make(config: ml_collections.ConfigDict):
  """The family `config.family` names, built from the config (checks its fields)."""
  family = family_class(config.family)(config)
  base.check_family(family)
  return family


def root_keys(seed: int) -> dict:
  """Named PRNG streams derived from the seed; a step's key is fold_in(keys['train'], step)."""
  init, train, sample = jax.random.split(jax.random.key(seed), 3)
  return {'init': init, 'train': train, 'sample': sample}


def zeros_like_batch(batch_spec: base.Batch) -> base.Batch:
  """Host zeros with the shapes and dtypes of a batch of ShapeDtypeStructs."""
  return jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), batch_spec)


def state_shardings(family, mesh: jax.sharding.Mesh, frozen: dict | None = None):
  """The shardings jaxgan/training/mesh.py's rules give the family's initial state on `mesh`,
  from shapes alone (no compute), with those of its `frozen` parameters (None: loaded here)."""
  example = family.example_batch(base.phases(family)[0])
  shapes = jax.eval_shape(family.init, root_keys(0)['init'], example)
  if frozen is None:
    frozen = base.frozen_params(family)
  return mesh_lib.shardings(shapes.replace(frozen=frozen), mesh,
                            mesh_lib.mesh_block(family.config)['min_sharded_bytes'])


def init_state(family, mesh: jax.sharding.Mesh):
  """The family's initial state for its first phase, created directly in the shardings the
  rules give it on `mesh` (never materialized whole on one device first), with its frozen
  pretrained parameters (if any) in state.frozen, sharded by the same rules."""
  example = zeros_like_batch(family.example_batch(base.phases(family)[0]))
  frozen = base.frozen_params(family)
  target = state_shardings(family, mesh, frozen)
  init = jax.jit(family.init, out_shardings=target.replace(frozen={}))
  state = init(root_keys(family.config.seed)['init'], example)
  return state.replace(frozen=mesh_lib.place(frozen, target.frozen)) if frozen else state


def sharding_of(state):
  """The shardings of a state's arrays (a pytree like it)."""
  return jax.tree.map(lambda x: x.sharding, state)
