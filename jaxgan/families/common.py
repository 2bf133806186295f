"""What several families use: pixel losses, the checks of an objective's pixel-loss terms, edge
padding to a size the network takes, and images shown with another number of channels. A family
borrows from here (or from a library package), never from another family."""
import jax
import jax.numpy as jnp
import ml_collections

from jaxgan import config_lib

PIXEL_LOSSES = {
    'l1': lambda x, y: jnp.mean(jnp.abs(x - y)),
    'l2': lambda x, y: jnp.mean(jnp.square(x - y)),
}


def check_objective_terms(objective: ml_collections.ConfigDict, loss_field: str,
                          weights: tuple) -> None:
  """A ConfigError for an unknown pixel loss in objective.<loss_field> or a negative weight."""
  if objective[loss_field] not in PIXEL_LOSSES:
    raise config_lib.ConfigError(f'Unknown config.objective.{loss_field} '
                                 f'{objective[loss_field]!r}; choose one of '
                                 f'{sorted(PIXEL_LOSSES)}.')
  negative = [w for w in weights if objective[w] < 0]
  if negative:
    raise config_lib.ConfigError(f'config.objective.{negative[0]} must be >= 0.')


def pad_to_multiple(images: jax.Array, multiple: int) -> jax.Array:
  """[N, h, w, C] edge-padded at the bottom and right to sides that are multiples of
  `multiple` (crop the outputs back to h x w)."""
  height, width = images.shape[1:3]
  return jnp.pad(images, ((0, 0), (0, -height % multiple), (0, -width % multiple), (0, 0)),
                 mode='edge')


def with_channels(images: jax.Array, channels: int) -> jax.Array:
  """Images shown with `channels` channels: as they are, or their channel mean repeated."""
  if images.shape[-1] == channels:
    return images
  return jnp.repeat(jnp.mean(images, axis=-1, keepdims=True), channels, axis=-1)
