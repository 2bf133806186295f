"""What several families use: pixel losses, the checks of an objective's pixel-loss terms, the
per-layer widths of a pruned generator, the padding of inputs as in training and to a size the
network takes, and images shown with another number of channels. A family
borrows from here (or from a library package), never from another family."""
import jax
import jax.numpy as jnp
import ml_collections

from jaxgan import config_lib
from jaxgan.data import sources

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


def layer_widths(model: ml_collections.ConfigDict, field: str, count: int
                 ) -> tuple[int, ...] | None:
  """config.model.<field>: the per-layer widths a pruned run sets (jaxgan.prune), or None where
  the field is absent or empty (the generator's own widths). A ConfigError unless they are
  `count` positive integers."""
  widths = model.get(field)
  if not widths:
    return None
  if len(widths) != count or min(widths) < 1:
    raise config_lib.ConfigError(f'config.model.{field}={tuple(widths)} must be {count} positive '
                                 f'widths for this {model.get("generator", "")} generator.')
  return tuple(widths)


def pad_to_multiple(images: jax.Array, multiple: int) -> jax.Array:
  """[N, h, w, C] edge-padded at the bottom and right to sides that are multiples of
  `multiple` (crop the outputs back to h x w)."""
  height, width = images.shape[1:3]
  return jnp.pad(images, ((0, 0), (0, -height % multiple), (0, -width % multiple), (0, 0)),
                 mode='edge')


def pad_as_trained(images: jax.Array, data_config: ml_collections.ConfigDict
                   ) -> tuple[jax.Array, tuple[slice, slice]]:
  """Images [N, h, w, C] that fit in the training size, zero-padded (centred) to it as data.pad
  padded the training images (a raw 28x28 digit of a run trained on digits padded to 32x32),
  and the rows and columns of the result that hold them, to crop outputs back with; any other
  images (data.pad off, larger, or of a symbolic size being exported) as they are."""
  height, width = images.shape[1:3]
  size = data_config.image_size
  if not (data_config.pad and isinstance(height, int) and isinstance(width, int)
          and height <= size and width <= size):
    return images, (slice(0, height), slice(0, width))
  (top, bottom), (left, right) = sources.centred_padding(height, width, size)
  return (jnp.pad(images, ((0, 0), (top, bottom), (left, right), (0, 0))),
          (slice(top, top + height), slice(left, left + width)))


def with_channels(images: jax.Array, channels: int) -> jax.Array:
  """Images shown with `channels` channels: as they are, or their channel mean repeated."""
  if images.shape[-1] == channels:
    return images
  return jnp.repeat(jnp.mean(images, axis=-1, keepdims=True), channels, axis=-1)
