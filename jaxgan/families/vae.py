"""The VAE family: Gaussian posterior, reparameterized ELBO, optional beta weighting of the KL.

Kingma & Welling 2013 (arXiv:1312.6114); beta-VAE: Higgins et al. 2017 (ICLR, "beta-VAE");
importance-weighted bound: Burda et al. 2015 (arXiv:1509.00519). With beta = 1 the training
loss is the negative ELBO; with beta != 1 the metric `neg_elbo` still reports the true bound.

Pixel likelihoods (`config.vae.likelihood`):
  bernoulli              binarized images; `config.vae.binarization` says how:
                           'dynamic'   x ~ Bernoulli(pixel / 255), resampled every training
                                       step; held-out images are binarized once per evaluation
                                       with a key fixed by config.seed (the same every time)
                           'threshold' x = pixel >= 128, for training and evaluation
  discretized_logistic   8-bit images, a logistic per pixel binned to 256 values (PixelCNN++'s
                         eq. 2 with one component); bits/dim comparable to PixelCNN's
"""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from scipy import stats

from jaxgan import config_lib
from jaxgan.data import images as image_lib
from jaxgan.data import sources as data
from jaxgan.families import base
from jaxgan.models import distributions
from jaxgan.models import vae as vae_models
from jaxgan.training import gradients
from jaxgan.training import optim
from jaxgan.training.state import NetworkState
from jaxgan.training.state import TrainState

State = TrainState  # networks: {'model': parameters, optimizer state, their EMA}

LIKELIHOODS = ('bernoulli', 'discretized_logistic')
BINARIZATIONS = ('dynamic', 'threshold')
_PARAMS_PER_CHANNEL = {'bernoulli': 1, 'discretized_logistic': 2}


class VaeFamily:
  """A VAE with the config's architecture, pixel likelihood and KL weight."""

  capabilities = frozenset({'sample', 'generate', 'image_grids', 'eval_metrics'})

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config
    vae_config = config.vae
    if vae_config.likelihood not in LIKELIHOODS:
      raise config_lib.ConfigError(
          f'Unknown config.vae.likelihood {vae_config.likelihood!r}; choose one of '
          f'{LIKELIHOODS}.')
    if vae_config.binarization not in BINARIZATIONS:
      raise config_lib.ConfigError(
          f'Unknown config.vae.binarization {vae_config.binarization!r}; choose '
          f'one of {BINARIZATIONS}.')
    if vae_config.beta < 0 or vae_config.kl_warmup_steps < 0:
      raise config_lib.ConfigError(
          f'config.vae.beta ({vae_config.beta}) and config.vae.kl_warmup_steps '
          f'({vae_config.kl_warmup_steps}) must be non-negative.')
    heldout = config.eval.heldout
    if heldout.iwae_samples % heldout.iwae_chunk:
      raise config_lib.ConfigError(
          f'config.eval.heldout.iwae_samples ({heldout.iwae_samples}) must be a multiple of '
          f'config.eval.heldout.iwae_chunk ({heldout.iwae_chunk}).')
    self.image_shape = (config.data.image_size, config.data.image_size, config.data.channels)
    self.num_dims = int(np.prod(self.image_shape))
    self.latent_dim = config.model.latent_dim
    self.label_classes = 0  # unconditional
    self.model = vae_models.make_vae(config.model, self.image_shape,
                                     _PARAMS_PER_CHANNEL[vae_config.likelihood])
    self.schedule = optim.make_schedule(config.optim.model, config.train.num_steps)
    self.optimizer = optim.make_optimizer(config.optim.model, self.schedule)

  def example_batch(self, phase: base.Phase) -> base.Batch:
    return base.labelled_example_batch(self.config, phase)

  def fingerprint(self) -> dict:
    return {'family': 'vae', 'model': dict(self.config.model.to_dict(),
                                           likelihood=self.config.vae.likelihood),
            'image_shape': list(self.image_shape)}

  def init(self, rng: jax.Array, batch: data.Batch) -> State:
    images = image_lib.normalize_images(batch['image'][:1])
    params = self.model.init(rng, images, jnp.zeros((1, self.latent_dim)))['params']
    return TrainState.create(
        {'model': NetworkState.create({'params': params}, self.optimizer, ema=True)})

  def _targets(self, pixels: jax.Array, rng: jax.Array) -> jax.Array:
    """The values the likelihood scores: {0, 1} when binarized, else the integer pixels."""
    if self.config.vae.likelihood != 'bernoulli':
      return pixels.astype(jnp.int32)
    if self.config.vae.binarization == 'threshold':
      return (pixels >= 128).astype(jnp.float32)
    return jax.random.bernoulli(rng, pixels.astype(jnp.float32) / 255.0).astype(jnp.float32)

  def _encoder_input(self, targets: jax.Array) -> jax.Array:
    """Encoder input in [-1, 1]: the binarized image itself, or the normalized pixels."""
    if self.config.vae.likelihood == 'bernoulli':
      return 2.0 * targets - 1.0
    return image_lib.normalize_images(targets)

  def log_likelihood(self, decoded: jax.Array, targets: jax.Array) -> jax.Array:
    """log p(x|z) in nats per example: decoded [..., H, W, C*P], targets [..., H, W, C]."""
    if self.config.vae.likelihood == 'bernoulli':
      per_dim = distributions.bernoulli_log_prob(decoded, targets)
    else:
      mean, log_scale = jnp.split(decoded, 2, axis=-1)
      per_dim = distributions.discretized_logistic_log_prob(targets, mean,
                                                            jnp.maximum(log_scale, -7.0))
    return jnp.sum(per_dim.reshape(per_dim.shape[:-3] + (-1,)), axis=-1)

  def kl_weight(self, step: jax.Array) -> jax.Array:
    """beta, linearly warmed up from 0 over kl_warmup_steps (Bowman et al. 2015, 1511.06349)."""
    beta, warmup = self.config.vae.beta, self.config.vae.kl_warmup_steps
    if warmup == 0:
      return jnp.asarray(beta, jnp.float32)
    return beta * jnp.minimum(1.0, step.astype(jnp.float32) / warmup)

  def _elbo_terms(self, params, targets: jax.Array, noise: jax.Array):
    """Per-example (log p(x|z) for one z = mean + sigma * noise ~ q(z|x), KL(q(z|x) || p(z)));
    `noise` ~ N(0, I) is drawn for the whole batch, so micro-batches see the same draws."""
    mean, log_variance = self.model.apply({'params': params}, self._encoder_input(targets),
                                          method=vae_models.Vae.encode)
    z = mean + jnp.exp(0.5 * log_variance) * noise  # vae_models.reparameterize's sample
    decoded = self.model.apply({'params': params}, z, method=vae_models.Vae.decode)
    return (self.log_likelihood(decoded, targets),
            distributions.gaussian_kl_to_standard_normal(mean, log_variance))

  def train_step(self, state: State, batch: data.Batch, rng: jax.Array):
    binarize_key, posterior_key = jax.random.split(rng)
    targets = self._targets(batch['image'], binarize_key)
    noise = jax.random.normal(posterior_key, (targets.shape[0], self.latent_dim))
    kl_weight = self.kl_weight(state.step)

    def objective(params, inputs, rng):
      del rng  # the posterior noise is drawn above
      log_likelihood, kl = self._elbo_terms(params, *inputs)
      loss = jnp.mean(kl_weight * kl - log_likelihood)
      return loss, {'neg_elbo': jnp.mean(kl - log_likelihood),
                    'reconstruction_nats': -jnp.mean(log_likelihood), 'kl_nats': jnp.mean(kl)}

    (loss, terms), grads = gradients.value_and_grad(
        objective, state.model.params, (targets, noise), posterior_key,
        gradients.microbatches(self.config))
    metrics = {
        'loss': loss,
        **terms,
        'bits_per_dim': distributions.bits_per_dim(terms['neg_elbo'], self.num_dims),
        'kl_weight': kl_weight,
        'learning_rate': self.schedule(state.step),
    }
    return state.update(model=state.model.apply_gradients(
        grads, self.optimizer, ema_decay=self.config.train.ema_decay)), metrics

  def eval_metrics(self, state: State, batch: data.Batch, rng: jax.Array) -> dict:
    """Per-example negative ELBO (analytic KL, reconstruction averaged over k posterior
    samples), the k-sample IWAE bound on -log p(x) (Burda et al. 2015, eq. 8), both in nats,
    and bits/dim of the IWAE bound; EMA parameters."""
    binarize_key, posterior_key = jax.random.split(rng)
    targets = self._targets(batch['image'], binarize_key)
    params = state.model.ema_params
    mean, log_variance = self.model.apply({'params': params}, self._encoder_input(targets),
                                          method=vae_models.Vae.encode)
    eval_config = self.config.eval.heldout
    num_chunks = eval_config.iwae_samples // eval_config.iwae_chunk

    def chunk_log_terms(key):
      """[chunk, N] log p(x|z_k) and log p(z_k) - log q(z_k|x) for `chunk` samples z_k."""
      noise = jax.random.normal(key, (eval_config.iwae_chunk,) + mean.shape)
      z = mean + jnp.exp(0.5 * log_variance) * noise
      decoded = jax.vmap(lambda zk: self.model.apply({'params': params}, zk,
                                                     method=vae_models.Vae.decode))(z)
      log_prior = distributions.gaussian_log_prob(z, 0.0, jnp.zeros_like(z))
      log_posterior = distributions.gaussian_log_prob(z, mean, log_variance)
      return self.log_likelihood(decoded, targets[None]), log_prior - log_posterior

    log_likelihood, log_ratio = jax.lax.map(chunk_log_terms,
                                            jax.random.split(posterior_key, num_chunks))
    log_likelihood = log_likelihood.reshape(-1, targets.shape[0])
    log_weights = log_likelihood + log_ratio.reshape(-1, targets.shape[0])
    kl = distributions.gaussian_kl_to_standard_normal(mean, log_variance)
    iwae_nll = -distributions.log_mean_exp(log_weights, axis=0)
    return {'neg_elbo_nats': kl - jnp.mean(log_likelihood, axis=0),
            'iwae_nll_nats': iwae_nll,
            'bits_per_dim': distributions.bits_per_dim(iwae_nll, self.num_dims)}

  def eval_protocol(self) -> dict:
    vae_config, eval_config = self.config.vae, self.config.eval.heldout
    binarized = vae_config.likelihood == 'bernoulli'
    return {'likelihood': vae_config.likelihood,
            'binarization': vae_config.binarization if binarized else 'none (8-bit pixels)',
            'iwae_samples': eval_config.iwae_samples,
            'bits_per_dim_from': 'iwae_nll_nats',
            'parameters': 'ema'}

  def _mean_image(self, decoded: jax.Array) -> jax.Array:
    """The decoder's expected image in [-1, 1]: Bernoulli means, or the logistic means."""
    if self.config.vae.likelihood == 'bernoulli':
      return 2.0 * jax.nn.sigmoid(decoded) - 1.0
    return jnp.clip(jnp.split(decoded, 2, axis=-1)[0], -1.0, 1.0)

  def generate(self, state: State, z: jax.Array, labels: jax.Array | None = None) -> jax.Array:
    """Mean images decoded from latents z [N, latent_dim] with the EMA parameters."""
    del labels  # unconditional
    decoded = self.model.apply({'params': state.model.ema_params}, z, method=vae_models.Vae.decode)
    return self._mean_image(decoded)

  def sample(self, state: State, rng: jax.Array, num: int) -> jax.Array:
    """Prior samples z ~ N(0, I), shown as decoder means (pixel noise would only add speckle)."""
    return self.generate(state, jax.random.normal(rng, (num, self.latent_dim)))

  def image_grids(self, state: State, rng: jax.Array, batch: base.Batch) -> dict:
    """Extra grids for the trainer: reconstructions (each input beside its posterior-mean
    reconstruction) and, for a 2-D latent space, the decoded manifold over the prior's
    5%..95% quantiles on a 10 x 10 grid."""
    targets = self._targets(batch['image'], rng)
    inputs = self._encoder_input(targets)
    mean, _ = self.model.apply({'params': state.model.ema_params}, inputs,
                               method=vae_models.Vae.encode)
    reconstructions = self.generate(state, mean)
    pairs = jnp.stack([inputs, reconstructions], axis=1).reshape((-1,) + inputs.shape[1:])
    grids = {'reconstructions': pairs}
    if self.latent_dim == 2:
      quantiles = jnp.asarray(stats.norm.ppf(np.linspace(0.05, 0.95, 10)), jnp.float32)
      rows, columns = jnp.meshgrid(quantiles[::-1], quantiles, indexing='ij')
      grids['manifold'] = self.generate(state, jnp.stack([columns, rows], -1).reshape(-1, 2))
    return grids
