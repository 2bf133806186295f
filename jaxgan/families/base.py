"""The model-family protocol: everything the one trainer and the tools may ask of a family.

A family is one module that turns a config into pure functions on a train state. Required:

  init(rng, batch) -> state              `batch`: an example batch of the first phase
  train_step(state, batch, rng) -> (state, metrics)    pure; state.step counts updates
  fingerprint() -> dict                  identifies the model; a checkpoint of another is refused
  example_batch(phase) -> batch          jax.ShapeDtypeStructs of one global batch of `phase`

Batches are dicts of named arrays (pytrees), built by jaxgan/data/sources.py's sources:
  labelled images   {'image': uint8 [N, H, W, C], 'label': int32 [N]}
  paired            {'input': uint8 [N, h, w, c], 'target': uint8 [N, H, W, C]}
  unpaired          {'a': {'image': ...}, 'b': {'image': ...}}  (two independent streams)

Optional capabilities are declared in the class attribute `capabilities` (never guessed with
hasattr); `families.make` checks that each declared one has the members of its Protocol below
(CAPABILITIES):

  'sample'        sample(state, rng, num) -> images in [-1, 1], NHWC (a prior to sample from)
  'generate'      latent_dim; label_classes (0: unconditional); generate(state, latents,
                  labels=None) -> images in [-1, 1], each from its own latent (and label) alone
  'translate'     translate(state, inputs) -> images in [-1, 1] (image-to-image: uint8 inputs);
                  tileable: whether overlapping tiles give the whole image's output (False when
                  the network normalizes by whole-image statistics, e.g. instance norm)
  'bidirectional' translate_direction(state, inputs, direction) -> images in [-1, 1]: 'a2b' or
                  'b2a' between two domains (unpaired translation; translate is 'a2b')
  'inpaint'       inpaint(state, images, masks) -> images in [-1, 1]: uint8 images and masks
                  [N, h, w, 1] (1 = missing); known pixels kept exactly. check_image_size(h, w)
                  raises a ValueError for a size the network cannot take
  'image_grids'   image_grids(state, rng, batch) -> {name: images in [-1, 1]} (e.g. VAE
                  reconstructions of the first training examples)
  'eval_metrics'  eval_metrics(state, batch, rng) -> {name: per-example [N] array} and
                  eval_protocol() -> dict; averaged over a held-out split by jaxgan/evaluation
  'phases'        phases() -> tuple of Phase; without it a run is one phase of train.num_steps
                  updates at train.batch_size and data.image_size
  'frozen'        frozen_params() -> pytree of numpy arrays: pretrained networks' parameters
                  (e.g. VGG16 for a perceptual loss). `families.init_state` puts them in
                  state.frozen, so every step gets them as jit arguments (closure constants make
                  XLA constant-fold for minutes); checkpoints leave them out.
  'warm_start'    warm_start(state) -> state: host-side initialization from elsewhere (e.g.
                  SRGAN's generator from a trained SRResNet run); the trainer calls it once,
                  when a run starts from step 0 and before it writes anything

Phases: the trainer jits one step per phase (it recompiles only at a boundary), opens the data at
the phase's image size, counts the data position in examples (so batch sizes may differ) and
records the phase index with every checkpoint. A family tells the phase inside train_step from
the static shapes of its batch (e.g. its image size).
"""
from typing import Any, NamedTuple, Protocol

import jax
import ml_collections
import numpy as np

from jaxgan import config_lib

Batch = dict[str, Any]  # a pytree of named arrays


class Phase(NamedTuple):
  """A stretch of training with fixed shapes: `num_steps` updates of `batch_size` examples of
  `image_size` x `image_size` images."""
  name: str
  num_steps: int
  batch_size: int
  image_size: int


class Family(Protocol):
  """The required part of every family."""
  config: ml_collections.ConfigDict
  capabilities: frozenset[str]

  def init(self, rng: jax.Array, batch: Batch) -> Any: ...

  def train_step(self, state: Any, batch: Batch, rng: jax.Array) -> tuple[Any, dict]: ...

  def fingerprint(self) -> dict: ...

  def example_batch(self, phase: Phase) -> Batch: ...


class Sampler(Protocol):
  def sample(self, state: Any, rng: jax.Array, num: int) -> jax.Array: ...


class Generator(Protocol):
  latent_dim: int
  label_classes: int

  def generate(self, state: Any, latents: jax.Array, labels: jax.Array | None = None
               ) -> jax.Array: ...


class Translator(Protocol):
  tileable: bool

  def translate(self, state: Any, inputs: jax.Array) -> jax.Array: ...


class BidirectionalTranslator(Protocol):
  def translate_direction(self, state: Any, inputs: jax.Array, direction: str) -> jax.Array: ...


class Inpainter(Protocol):
  def inpaint(self, state: Any, images: jax.Array, masks: jax.Array) -> jax.Array: ...

  def check_image_size(self, height: int, width: int) -> None: ...


class ImageGrids(Protocol):
  def image_grids(self, state: Any, rng: jax.Array, batch: Batch) -> dict[str, jax.Array]: ...


class HeldOutMetrics(Protocol):
  def eval_metrics(self, state: Any, batch: Batch, rng: jax.Array) -> dict[str, jax.Array]: ...

  def eval_protocol(self) -> dict: ...


class Phased(Protocol):
  def phases(self) -> tuple[Phase, ...]: ...


class Frozen(Protocol):
  def frozen_params(self) -> dict: ...


class WarmStart(Protocol):
  def warm_start(self, state: Any) -> Any: ...


# Each optional capability and the protocol a family declaring it implements.
CAPABILITIES: dict[str, type] = {
    'sample': Sampler,
    'generate': Generator,
    'translate': Translator,
    'bidirectional': BidirectionalTranslator,
    'inpaint': Inpainter,
    'image_grids': ImageGrids,
    'eval_metrics': HeldOutMetrics,
    'phases': Phased,
    'frozen': Frozen,
    'warm_start': WarmStart,
}


def members(protocol: type) -> tuple[str, ...]:
  """The attributes and methods a protocol asks for."""
  names = set(getattr(protocol, '__annotations__', {}))
  names |= {name for name, value in vars(protocol).items()
            if callable(value) and not name.startswith('_')}
  return tuple(sorted(names))


REQUIRED = members(Family)


def check_family(family) -> None:
  """Raises TypeError if `family` lacks a required member or one of a declared capability."""
  name = type(family).__name__
  missing = [m for m in REQUIRED if not hasattr(family, m)]
  unknown = sorted(set(getattr(family, 'capabilities', ())) - set(CAPABILITIES))
  if missing or unknown:
    raise TypeError(f'{name} is not a Family: missing {missing}, unknown capabilities {unknown}.')
  for capability in family.capabilities:
    absent = [m for m in members(CAPABILITIES[capability]) if not hasattr(family, m)]
    if absent:
      raise TypeError(f'{name} declares {capability!r} but has no {absent}.')


def has(family, capability: str) -> bool:
  """Whether `family` declares `capability` (one of CAPABILITIES)."""
  if capability not in CAPABILITIES:
    raise KeyError(f'Unknown capability {capability!r}; one of {sorted(CAPABILITIES)}.')
  return capability in family.capabilities


def require(family, capability: str, purpose: str) -> None:
  """A one-line ConfigError if `family` cannot serve `purpose`, which needs `capability`."""
  if not has(family, capability):
    raise config_lib.ConfigError(
        f'config.family={family.config.family!r} has no {capability!r} capability, which '
        f'{purpose} needs; declared: {sorted(family.capabilities) or "none"}.')


def frozen_params(family) -> dict:
  """The family's frozen pretrained parameters; {} without the 'frozen' capability."""
  return family.frozen_params() if has(family, 'frozen') else {}


def phases(family) -> tuple[Phase, ...]:
  """The family's phases, or the one phase that config.train and config.data describe."""
  if has(family, 'phases'):
    return tuple(family.phases())
  config = family.config
  return (Phase('train', config.train.num_steps, config.train.batch_size,
                config.data.image_size),)


def translation_inputs(family, direction: str | None = None) -> jax.ShapeDtypeStruct:
  """The example images a translating family's translate (in `direction`) takes: an unpaired
  batch's source domain (a bidirectional family, whose direction 'a2b', the default, reads A,
  or a one-way translator trained on unpaired data, e.g. a distilled CycleGAN A->B generator),
  a paired batch's 'input', or the 'image' of a family trained on single images (fast style)."""
  example = family.example_batch(phases(family)[0])
  if 'a' in example:
    example = example[(direction or 'a2b')[0]]
  return example['input' if 'input' in example else 'image']


def labelled_example_batch(config: ml_collections.ConfigDict, phase: Phase) -> Batch:
  """The example batch of a family trained on labelled images of config.data's channels."""
  size = phase.image_size
  return {'image': jax.ShapeDtypeStruct((phase.batch_size, size, size, config.data.channels),
                                        np.uint8),
          'label': jax.ShapeDtypeStruct((phase.batch_size,), np.int32)}
