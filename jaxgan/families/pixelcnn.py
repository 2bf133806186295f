"""The PixelCNN family: exact autoregressive likelihood, trained by maximum likelihood.

Gated PixelCNN (van den Oord et al. 2016, arXiv:1606.05328) with one of two pixel likelihoods
(`config.pixelcnn.likelihood`):
  categorical        a 256-way softmax per pixel (the paper's); grayscale only, since colour
                     would need channel masks inside a pixel
  logistic_mixture   PixelCNN++'s mixture of discretized logistics with autoregressive colour
                     channels (Salimans et al. 2017, arXiv:1701.05517); any channel count
The negative log-likelihood is exact, so bits/dim on the test split is the model's true value.
Sampling runs the network once per pixel in a jitted fori_loop (H * W passes).
"""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgan import config_lib
from jaxgan.data import images as image_lib
from jaxgan.data import sources as data
from jaxgan.families import base
from jaxgan.models import distributions
from jaxgan.models import pixelcnn as pixelcnn_models
from jaxgan.training import gradients
from jaxgan.training import optim
from jaxgan.training.state import NetworkState
from jaxgan.training.state import TrainState

State = TrainState  # networks: {'model': parameters, optimizer state, their EMA}

LIKELIHOODS = ('categorical', 'logistic_mixture')


class PixelCnnFamily:
  """A Gated PixelCNN with the config's width, depth and pixel likelihood."""

  capabilities = frozenset({'sample', 'eval_metrics'})

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config
    self.channels = config.data.channels
    self.likelihood = config.pixelcnn.likelihood
    self.num_mixtures = config.pixelcnn.num_mixtures
    if self.likelihood not in LIKELIHOODS:
      raise config_lib.ConfigError(
          f'Unknown config.pixelcnn.likelihood {self.likelihood!r}; choose one of '
          f'{LIKELIHOODS}.')
    if self.likelihood == 'categorical' and self.channels != 1:
      raise config_lib.ConfigError(
          f"config.pixelcnn.likelihood='categorical' supports grayscale only; with "
          f"{self.channels} channels use 'logistic_mixture'.")
    self.image_shape = (config.data.image_size, config.data.image_size, self.channels)
    self.num_dims = int(np.prod(self.image_shape))
    out_features = (distributions.NUM_PIXEL_VALUES if self.likelihood == 'categorical' else
                    distributions.num_mixture_params(self.channels, self.num_mixtures))
    model = config.model
    self.model = pixelcnn_models.GatedPixelCnn(
        features=model.features, num_layers=model.num_layers, kernel_size=model.kernel_size,
        first_kernel_size=model.first_kernel_size, output_hidden=model.output_hidden,
        out_features=out_features)
    self.schedule = optim.make_schedule(config.optim.model, config.train.num_steps)
    self.optimizer = optim.make_optimizer(config.optim.model, self.schedule)

  def example_batch(self, phase: base.Phase) -> base.Batch:
    return base.labelled_example_batch(self.config, phase)

  def fingerprint(self) -> dict:
    return {'family': 'pixelcnn',
            'model': dict(self.config.model.to_dict(), likelihood=self.likelihood,
                          num_mixtures=self.num_mixtures),
            'image_shape': list(self.image_shape)}

  def init(self, rng: jax.Array, batch: data.Batch) -> State:
    params = self.model.init(rng, image_lib.normalize_images(batch['image'][:1]))['params']
    return TrainState.create(
        {'model': NetworkState.create({'params': params}, self.optimizer, ema=True)})

  def pixel_log_probs(self, outputs: jax.Array, pixels: jax.Array) -> jax.Array:
    """log P(pixel | pixels before it) [N, H, W] from network outputs and integer pixels."""
    if self.likelihood == 'categorical':
      return distributions.categorical_log_prob(outputs, pixels[..., 0])
    return distributions.logistic_mixture_log_prob(pixels, outputs, self.num_mixtures)

  def negative_log_likelihood(self, params, images: jax.Array) -> jax.Array:
    """Exact -log p(x) in nats per example for uint8 images [N, H, W, C]."""
    pixels = images.astype(jnp.int32)
    outputs = self.model.apply({'params': params}, image_lib.normalize_images(images))
    return -jnp.sum(self.pixel_log_probs(outputs, pixels), axis=(1, 2))

  def train_step(self, state: State, batch: data.Batch, rng: jax.Array):
    def objective(params, images, rng):
      del rng  # maximum likelihood on the data as is: nothing random
      nats = jnp.mean(self.negative_log_likelihood(params, images))
      return distributions.bits_per_dim(nats, self.num_dims), nats

    (loss, nats), grads = gradients.value_and_grad(
        objective, state.model.params, batch['image'], rng,
        gradients.microbatches(self.config))
    metrics = {'loss': loss, 'nll_nats': nats, 'learning_rate': self.schedule(state.step)}
    return state.update(model=state.model.apply_gradients(
        grads, self.optimizer, ema_decay=self.config.train.ema_decay)), metrics

  def eval_metrics(self, state: State, batch: data.Batch, rng: jax.Array) -> dict:
    """Per-example exact NLL (nats) and bits/dim with the EMA parameters."""
    del rng
    nats = self.negative_log_likelihood(state.model.ema_params, batch['image'])
    return {'nll_nats': nats, 'bits_per_dim': distributions.bits_per_dim(nats, self.num_dims)}

  def eval_protocol(self) -> dict:
    return {'likelihood': self.likelihood, 'data': '8-bit pixels, exact likelihood',
            'parameters': 'ema'}

  def _sample_pixel(self, rng: jax.Array, outputs: jax.Array) -> jax.Array:
    """Integer pixel values [N, C] drawn from one pixel's outputs [N, out_features]."""
    if self.likelihood == 'categorical':
      return jax.random.categorical(rng, outputs)[:, None]
    return distributions.sample_logistic_mixture(rng, outputs, self.channels, self.num_mixtures)

  def sample(self, state: State, rng: jax.Array, num: int) -> jax.Array:
    """Ancestral sampling in raster order with the EMA parameters: one network pass per pixel."""
    height, width, channels = self.image_shape

    def draw(index, canvas):
      row, column = index // width, index % width
      outputs = self.model.apply({'params': state.model.ema_params}, canvas)
      pixel_outputs = jax.lax.dynamic_index_in_dim(
          jax.lax.dynamic_index_in_dim(outputs, row, axis=1, keepdims=False),
          column, axis=1, keepdims=False)
      pixel = self._sample_pixel(jax.random.fold_in(rng, index), pixel_outputs)
      value = image_lib.normalize_images(pixel)[:, None, None, :]  # exactly as in training
      return jax.lax.dynamic_update_slice(canvas, value, (0, row, column, 0))

    canvas = jnp.zeros((num, height, width, channels), jnp.float32)
    return jnp.clip(jax.lax.fori_loop(0, height * width, draw, canvas), -1.0, 1.0)
