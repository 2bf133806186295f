"""Model families behind the protocol of jaxgan/families/base.py, built by name from the config."""
import jax
import ml_collections
import numpy as np

from jaxgan import config_lib
from jaxgan.training import mesh as mesh_lib
from jaxgan.families import base
from jaxgan.families import fast_style
from jaxgan.families import gan
from jaxgan.families import image_to_image
from jaxgan.families import pixelcnn
from jaxgan.families import progan
from jaxgan.families import super_resolution
from jaxgan.families import unpaired
from jaxgan.families import vae

FAMILIES = {'gan': gan.GanFamily, 'vae': vae.VaeFamily, 'pixelcnn': pixelcnn.PixelCnnFamily,
            'super_resolution': super_resolution.SuperResolutionFamily,
            'pix2pix': image_to_image.Pix2PixFamily, 'inpainting': image_to_image.InpaintingFamily,
            'unpaired_translation': unpaired.UnpairedTranslationFamily,
            'fast_style': fast_style.FastStyleFamily, 'progan': progan.ProganFamily}


def make(config: ml_collections.ConfigDict):
  """The family `config.family` names, built from the config (checks its fields)."""
  if config.family not in FAMILIES:
    raise config_lib.ConfigError(f'Unknown config.family {config.family!r}; choose one of '
                                 f'{sorted(FAMILIES)}.')
  family = FAMILIES[config.family](config)
  base.check_family(family)
  return family


def root_keys(seed: int) -> dict:
  """Named PRNG streams derived from the seed; a step's key is fold_in(keys['train'], step)."""
  init, train, sample = jax.random.split(jax.random.key(seed), 3)
  return {'init': init, 'train': train, 'sample': sample}


def zeros_like_batch(batch_spec: base.Batch) -> base.Batch:
  """Host zeros with the shapes and dtypes of a batch of ShapeDtypeStructs."""
  return jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), batch_spec)


def init_state(family, mesh: jax.sharding.Mesh):
  """The family's initial state for its first phase, created replicated over `mesh`, with
  its frozen pretrained parameters (if any) in state.frozen."""
  example = zeros_like_batch(family.example_batch(base.phases(family)[0]))
  init = jax.jit(family.init, out_shardings=mesh_lib.replicated_sharding(mesh))
  state = init(root_keys(family.config.seed)['init'], example)
  frozen = base.frozen_params(family)
  return state.replace(frozen=mesh_lib.replicate(frozen, mesh)) if frozen else state
