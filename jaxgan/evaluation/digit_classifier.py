"""A small digit classifier: the "FCN-score" analogue for generated digits.

Isola et al. 2017 (pix2pix, arXiv:1611.07004) score generated street scenes by how well an
off-the-shelf segmenter (FCN-8s) trained on real photographs recognises them; for digits the
analogue is the accuracy of a classifier trained on real digits (mnist_5k's train split, by
`python experiments/digit_classifier.py`, which states its test accuracy) on generated ones.

Network: LeNet-style, conv3x3(32)-ReLU-maxpool2-conv3x3(64)-ReLU-maxpool2-dense(128)-ReLU-
dense(10) (the Keras/PyTorch MNIST examples' layers, with a pool after each conv to keep CPU
training short). Inputs are uint8 digits [N, 28, 28, 1], or [N, 32, 32, 1] digits padded by
2 pixels on every side (as the U-Net families pad mnist to 32x32), which are centre-cropped
back to 28x28 first; pixels are scaled to [0, 1]. Training (`train`) is Adam with a cosine
decay of the learning rate to 0 on the cross-entropy, each digit shifted at random by up to
`max_shift` pixels (the one augmentation: +1 point of test accuracy on mnist_5k), deterministic
given the seed.

Weights are saved as .npz (np.savez; read with allow_pickle=False, so nothing is unpickled)
holding the flat arrays 'Conv_0/kernel', ... and '_sha1', a sha1 of their names, dtypes, shapes
and bytes that `load` checks.
"""
import hashlib
import os

from flax import traverse_util
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxgan.pretrained import weights

DEFAULT_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'experiments', 'results', 'digit_classifier.npz')
_TRAIN_COMMAND = 'run python experiments/digit_classifier.py'
_SIZE, _PADDED = 28, 32


class DigitCNN(nn.Module):
  """Logits [N, 10] of digits in [0, 1], float [N, 28, 28, 1]."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for features in (32, 64):
      x = nn.relu(nn.Conv(features, (3, 3), padding='SAME')(x))
      x = nn.max_pool(x, (2, 2), (2, 2))
    x = nn.relu(nn.Dense(128)(x.reshape(x.shape[0], -1)))
    return nn.Dense(10)(x)


def _prepare(images) -> jax.Array:
  """uint8 [N, 28 or 32, same, 1] -> float32 [N, 28, 28, 1] in [0, 1] (32 centre-cropped)."""
  shape, dtype = images.shape, images.dtype
  if dtype != jnp.uint8 or len(shape) != 4 or shape[3] != 1 or shape[1:3] not in (
      (_SIZE, _SIZE), (_PADDED, _PADDED)):
    raise ValueError(f'The digit classifier takes uint8 digits [N, 28, 28, 1] or [N, 32, 32, 1] '
                     f'(quantize outputs first, e.g. jaxgan.data.images.to_uint8), got {dtype} '
                     f'{tuple(shape)}.')
  border = (shape[1] - _SIZE) // 2
  images = images[:, border:border + _SIZE, border:border + _SIZE]
  return images.astype(jnp.float32) / 255.0


@jax.jit
def logits(params: dict, images) -> jax.Array:
  """Class logits [N, 10] of uint8 digits [N, 28, 28, 1] or (2-pixel padded) [N, 32, 32, 1]."""
  return DigitCNN().apply({'params': params}, _prepare(jnp.asarray(images)))


def accuracy(params: dict, images: np.ndarray, labels: np.ndarray,
             batch_size: int = 500) -> float:
  """The fraction of `images` classified as their `labels`, in batches of `batch_size`."""
  labels = np.asarray(labels)
  if len(images) != len(labels) or not len(labels):
    raise ValueError(f'accuracy needs as many labels as images (and some), got {len(labels)} '
                     f'labels for {len(images)} images.')
  correct = sum(int((np.asarray(logits(params, images[i:i + batch_size])).argmax(-1) ==
                     labels[i:i + batch_size]).sum()) for i in range(0, len(labels), batch_size))
  return correct / len(labels)


def _shifted(images: np.ndarray, rng: np.random.Generator, max_shift: int) -> np.ndarray:
  """Each digit moved by a uniform integer shift in [-max_shift, max_shift]^2, zero filled."""
  if not max_shift:
    return images
  n, height, width, _ = images.shape
  padded = np.pad(images, ((0, 0), (max_shift,) * 2, (max_shift,) * 2, (0, 0)))
  offsets = rng.integers(0, 2 * max_shift, (n, 2), endpoint=True)
  return np.stack([p[dy:dy + height, dx:dx + width] for p, (dy, dx) in zip(padded, offsets)])


def train(images: np.ndarray, labels: np.ndarray, seed: int, steps: int, batch_size: int = 64,
          learning_rate: float = 1e-3, max_shift: int = 2) -> dict:
  """Parameters of DigitCNN trained for `steps` Adam steps on shuffled epochs of (images,
  labels), uint8 [N, 28 or 32, same, 1] and ints [N]; a pure function of the arguments."""
  images, labels = np.asarray(images), np.asarray(labels, np.int32)
  if len(images) != len(labels) or len(images) < batch_size:
    raise ValueError(f'train needs as many labels as images and at least batch_size='
                     f'{batch_size} of them, got {len(images)} images and {len(labels)} labels.')
  model, optimizer = DigitCNN(), optax.adam(optax.cosine_decay_schedule(learning_rate, steps))
  params = model.init(jax.random.PRNGKey(seed), _prepare(jnp.asarray(images[:1])))['params']
  opt_state = optimizer.init(params)

  @jax.jit
  def step(params, opt_state, batch_images, batch_labels):
    def loss_fn(params):
      batch_logits = logits(params, batch_images)
      return optax.softmax_cross_entropy_with_integer_labels(batch_logits, batch_labels).mean()
    grads = jax.grad(loss_fn)(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  rng = np.random.default_rng(seed)
  order = np.zeros(0, np.int64)
  for _ in range(steps):
    if len(order) < batch_size:
      order = np.concatenate([order, rng.permutation(len(images))])
    batch, order = order[:batch_size], order[batch_size:]
    params, opt_state = step(params, opt_state, _shifted(images[batch], rng, max_shift),
                             labels[batch])
  return jax.device_get(params)


def _content_sha1(flat: dict) -> str:
  digest = hashlib.sha1()
  for name in sorted(flat):
    array = np.ascontiguousarray(flat[name])
    digest.update(f'{name}|{array.dtype.str}|{array.shape}|'.encode())
    digest.update(array.tobytes())
  return digest.hexdigest()


def save(params: dict, path: str) -> str:
  """Writes the parameters to `path` (.npz, atomically) with their content sha1; returns it."""
  flat = {k: np.asarray(v) for k, v in traverse_util.flatten_dict(params, sep='/').items()}
  sha1 = _content_sha1(flat)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  temporary = f'{path}.{os.getpid()}.tmp.npz'
  np.savez(temporary, _sha1=np.array(sha1), **flat)
  os.replace(temporary, path)
  return sha1


def load(path: str = DEFAULT_PATH) -> dict:
  """Parameters saved by `save`, checked against their sha1 and DigitCNN's layout; a
  WeightsError naming the file and how to remake it otherwise."""
  if not os.path.isfile(path):
    raise weights.WeightsError(f'The digit classifier {path} does not exist: {_TRAIN_COMMAND}.')
  try:
    with np.load(path, allow_pickle=False) as data:
      flat = dict(data)
    sha1 = str(flat.pop('_sha1'))
  except Exception as e:  # a truncated or foreign file fails in zipfile, numpy or the lookup
    raise weights.WeightsError(f'The digit classifier {path} is unreadable ({type(e).__name__}: '
                               f'{e}): {_TRAIN_COMMAND}.') from e
  if _content_sha1(flat) != sha1:
    raise weights.WeightsError(f'The digit classifier {path} fails its sha1 check (corrupt): '
                               f'{_TRAIN_COMMAND}.')
  expected = jax.eval_shape(DigitCNN().init, jax.random.PRNGKey(0),
                            jnp.zeros((1, _SIZE, _SIZE, 1)))['params']
  layout = {k: (v.shape, v.dtype) for k, v in traverse_util.flatten_dict(expected, sep='/').items()}
  if {k: (v.shape, v.dtype) for k, v in flat.items()} != layout:
    raise weights.WeightsError(f'The digit classifier {path} does not hold DigitCNN\'s '
                               f'parameters: {_TRAIN_COMMAND}.')
  return traverse_util.unflatten_dict(flat, sep='/')
