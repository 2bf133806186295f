"""Unpaired image-to-image translation: two generators G_AB: A -> B and G_BA: B -> A and two
discriminators D_A, D_B, trained on an unpaired source's {'a': ..., 'b': ...} batches (two
independent streams: no example of A is ever shown with its counterpart in B).

  CycleGAN  Zhu et al. 2017 (arXiv:1703.10593): ResNet generators, PatchGAN discriminators,
            least-squares GAN loss, cycle consistency |G_BA(G_AB(a)) - a|_1 (and for b) weight
            10, identity |G_AB(b) - b|_1 (and for a) weight 5, D updated on a history of 50
            generated images per domain (jaxgan/adversarial/image_pool.py).
  DiscoGAN  Kim et al. 2017 (arXiv:1703.05192): encoder-decoder generators, image-level
            discriminators, the standard GAN loss, reconstruction |G_BA(G_AB(a)) - a|_2^2 in
            both directions; no identity loss, no pool.

Both are this family with different configs (configs/cyclegan.py, configs/discogan.py):

  L_G = adversarial_weight * (GAN_G(D_B(G_AB(a))) + GAN_G(D_A(G_BA(b))))
        + cycle_weight * (d(G_BA(G_AB(a)), a) + d(G_AB(G_BA(b)), b))
        + identity_weight * (d(G_AB(b), b) + d(G_BA(a), a))

with d the objective's cycle_loss (a mean over pixels and channels). The two generators take
one joint gradient step (the reference's single Adam over both: Adam is elementwise, so one
optimizer state per network is the same update), then each D takes one step on its real domain
against pooled fakes. The pools live in state.extras, so resume stays bitwise exact.

Evaluation (`eval_metrics`, EMA generators, outputs quantized to uint8 as saved PNGs): PSNR of
each cycle (a -> b -> a, b -> a -> b); where the held-out splits correspond
(config.data.paired_test, e.g. T1 and grey-matter tiles of the same MRI slices) PSNR and SSIM
of each translation against its ground truth.
"""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgan.adversarial import image_pool
from jaxgan.adversarial import updates as adversarial
from jaxgan import config_lib
from jaxgan.data import images as image_lib
from jaxgan.evaluation import image_quality
from jaxgan.families import base
from jaxgan.families import common
from jaxgan.models import image_to_image
from jaxgan.models import normalization
from jaxgan.models import unpaired as models
from jaxgan.training import gradients
from jaxgan.training import optim
from jaxgan.training.state import NetworkState
from jaxgan.training.state import TrainState

DIRECTIONS = {'a2b': ('generator_ab', 'b'), 'b2a': ('generator_ba', 'a')}  # -> (network, target)
GENERATORS = ('resnet', 'encoder_decoder')
DISCRIMINATORS = ('patch', 'image')
WEIGHTS = ('adversarial_weight', 'cycle_weight', 'identity_weight')


def _check_config(config: ml_collections.ConfigDict, channels: dict) -> int:
  """A one-line ConfigError for a config this family cannot train; returns the generators' size
  multiple (2^downsamplings)."""
  data_config, model, objective = config.data, config.model, config.objective
  if data_config.pairing != 'unpaired':
    raise config_lib.ConfigError(
        f"config.family={config.family!r} trains on two unpaired domains: set "
        f"config.data.pairing='unpaired' (domain A: config.data, B: config.data.other); got "
        f"{data_config.pairing!r}.")
  if data_config.other.image_size != data_config.image_size:
    raise config_lib.ConfigError(
        f'config.data.other.image_size={data_config.other.image_size} differs from '
        f'config.data.image_size={data_config.image_size}: both domains train at one size.')
  common.check_objective_terms(objective, 'cycle_loss', WEIGHTS)
  if not objective.adversarial_weight:
    raise config_lib.ConfigError('config.objective.adversarial_weight is 0: without the GAN '
                                 'loss nothing pulls a translation towards the other domain.')
  if objective.identity_weight and channels['a'] != channels['b']:
    raise config_lib.ConfigError(
        f'config.objective.identity_weight > 0 needs domains with the same channels (G_AB(b) '
        f'~ b); A has {channels["a"]}, B {channels["b"]}. Set it to 0.')
  if config.gan.pool_size < 0:
    raise config_lib.ConfigError(f'config.gan.pool_size={config.gan.pool_size} must be >= 0 '
                                 '(0: no image pool).')
  if model.generator not in GENERATORS or model.discriminator not in DISCRIMINATORS:
    raise config_lib.ConfigError(
        f'config.model.generator={model.generator!r} / discriminator={model.discriminator!r}: '
        f'choose a generator of {GENERATORS} and a discriminator of {DISCRIMINATORS}.')
  try:
    for field in ('norm', 'd_norm'):
      normalization.check_norm(model[field], field, image_to_image.IMAGE_NORMS)
  except ValueError as e:
    raise config_lib.ConfigError(f'config.model: {e}') from None
  size_multiple = 2 ** (model.downsamplings if model.generator == 'resnet' else model.depth)
  multiple = max(size_multiple, 2 ** model.d_layers if model.discriminator == 'image' else 1)
  if data_config.image_size % multiple:
    raise config_lib.ConfigError(
        f'config.data.image_size={data_config.image_size} is not a multiple of {multiple}, '
        'which config.model\'s generator and discriminator need; change one of them.')
  return size_multiple


class UnpairedTranslationFamily:
  """CycleGAN / DiscoGAN: two generators and two discriminators on unpaired domains."""

  capabilities = frozenset({'translate', 'bidirectional', 'image_grids', 'eval_metrics'})

  @property
  def tileable(self) -> bool:
    """Instance norm normalizes by the whole image's statistics: tiles would differ."""
    return self.config.model.norm != 'instance'

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config
    model = config.model
    self.channels = {'a': config.data.channels, 'b': config.data.other.channels}
    self.size_multiple = _check_config(config, self.channels)  # what translate pads to
    self.generators = {'generator_ab': self._generator(self.channels['b']),
                       'generator_ba': self._generator(self.channels['a'])}
    self.g_optimizer = optim.make_optimizer(
        config.optim.generator, optim.make_schedule(config.optim.generator,
                                                    config.train.num_steps))
    d_module = (models.ImageDiscriminator(model.d_features, model.d_layers, model.d_norm)
                if model.discriminator == 'image' else
                image_to_image.PatchDiscriminator(model.d_features, model.d_layers,
                                                  model.d_norm))
    # A batch-norm D (DiscoGAN) normalizes G's fakes with the real images, as in its update.
    self.critic = adversarial.image_critic(d_module, config,
                                           score_with_real=model.d_norm == 'batch')

  def _generator(self, out_channels: int):
    model = self.config.model
    if model.generator == 'resnet':
      return models.ResnetGenerator(
          out_channels, model.features, model.num_blocks, model.norm, model.downsamplings,
          common.layer_widths(model, 'block_widths', model.num_blocks))
    return models.EncoderDecoderGenerator(out_channels, model.features, model.depth, model.norm)

  # Protocol: shapes, identity, state.

  def example_batch(self, phase: base.Phase) -> base.Batch:
    size, n = phase.image_size, phase.batch_size
    return {domain: {'image': jax.ShapeDtypeStruct((n, size, size, channels), np.uint8),
                     'label': jax.ShapeDtypeStruct((n,), np.int32)}
            for domain, channels in self.channels.items()}

  def fingerprint(self) -> dict:
    model = {k: list(v) if isinstance(v, tuple) else v for k, v in self.config.model.items()}
    return {'family': self.config.family, 'model': model, 'channels': self.channels,
            'image_size': self.config.data.image_size}

  def init(self, rng: jax.Array, batch: base.Batch) -> TrainState:
    keys = dict(zip(('generator_ab', 'generator_ba', 'discriminator_a', 'discriminator_b'),
                    jax.random.split(rng, 4)))
    images = {d: image_lib.normalize_images(batch[d]['image'][:1]) for d in ('a', 'b')}
    networks = {}
    for name, (generator, source) in {'generator_ab': (self.generators['generator_ab'], 'a'),
                                      'generator_ba': (self.generators['generator_ba'], 'b')
                                      }.items():
      variables = generator.init(keys[name], images[source], train=False)
      networks[name] = NetworkState.create(variables, self.g_optimizer, ema=True)
    for domain in ('a', 'b'):
      name = f'discriminator_{domain}'
      variables = self.critic.module.init(keys[name], images[domain], None, train=False)
      networks[name] = NetworkState.create(variables, self.critic.optimizer, ema=False)
    size, pool_size = self.config.data.image_size, self.config.gan.pool_size
    pools = {f'pool_{d}': image_pool.create(pool_size, (size, size, c))
             for d, c in self.channels.items()} if pool_size else {}
    return TrainState.create(networks, extras=pools)

  # Training.

  def train_step(self, state: TrainState, batch: base.Batch, rng: jax.Array):
    objective = self.config.objective
    distance = common.PIXEL_LOSSES[objective.cycle_loss]
    real = {d: image_lib.normalize_images(batch[d]['image']) for d in ('a', 'b')}
    g_rng, d_rng, pool_rng = jax.random.split(rng, 3)
    names = tuple(self.generators)

    def generator_objective(params, real, g_rng):
      collections = {name: state.networks[name].collections for name in names}

      def run(name, images):  # training mode; batch statistics threaded through every call
        outputs, updates = self.generators[name].apply(
            {'params': params[name], **collections[name]}, images, train=True,
            mutable=['batch_stats'])
        collections[name] = {**collections[name], **updates}
        return outputs

      fake = {'b': run('generator_ab', real['a']), 'a': run('generator_ba', real['b'])}
      cycled = {'a': run('generator_ba', fake['b']), 'b': run('generator_ab', fake['a'])}
      rngs = jax.random.split(g_rng, 2)
      terms = {
          'adversarial_loss': sum(
              adversarial.generator_adversarial_loss(
                  self.critic, state.networks[f'discriminator_{d}'],
                  adversarial.Scored(fake[d]), key, real=adversarial.Scored(real[d]))
              for d, key in zip(('a', 'b'), rngs)),
          'cycle_loss': distance(cycled['a'], real['a']) + distance(cycled['b'], real['b'])}
      if objective.identity_weight:
        terms['identity_loss'] = (distance(run('generator_ab', real['b']), real['b'])
                                  + distance(run('generator_ba', real['a']), real['a']))
      total = sum(objective[name.replace('_loss', '_weight')] * value
                  for name, value in terms.items())
      return total, (terms, gradients.Rows(fake), collections)

    (total, (terms, fake, collections)), grads = gradients.value_and_grad(
        generator_objective, {name: state.networks[name].params for name in names}, real, g_rng,
        gradients.microbatches(self.config))
    networks = {name: state.networks[name].apply_gradients(
        grads[name], self.g_optimizer, collections=collections[name],
        ema_decay=self.config.train.ema_decay) for name in names}
    metrics = {'generator_loss': total, **terms}
    extras = dict(state.extras)
    for domain, d_key, p_key in zip(('a', 'b'), jax.random.split(d_rng), jax.random.split(pool_rng)):
      pool, shown = f'pool_{domain}', jax.lax.stop_gradient(fake[domain])
      if pool in extras:  # config.gan.pool_size > 0
        extras[pool], shown = image_pool.query(extras[pool], shown, p_key)
      name = f'discriminator_{domain}'
      networks[name], d_metrics = adversarial.discriminator_update(
          self.critic, state.networks[name], adversarial.Scored(real[domain]),
          adversarial.Scored(shown), d_key, state.networks[name].step)
      metrics.update({f'{key}_{domain}': value for key, value in d_metrics.items()})
    return state.update(**networks).replace(extras=extras), metrics

  # Applying the trained generators.

  def translate_direction(self, state: TrainState, inputs: jax.Array, direction: str
                          ) -> jax.Array:
    """uint8 images [N, h, w, C] of the source domain -> [-1, 1] images of the other ('a2b' or
    'b2a'), by the EMA generator; any size (padded as the source domain's training images, then
    edge-padded to the networks' size multiple; the output cropped back)."""
    if direction not in DIRECTIONS:
      raise ValueError(f'Unknown direction {direction!r}; choose one of {tuple(DIRECTIONS)}.')
    name = DIRECTIONS[direction][0]
    source = self.config.data if direction == 'a2b' else self.config.data.other
    images, (rows, columns) = common.pad_as_trained(inputs, source)
    padded = common.pad_to_multiple(images, self.size_multiple)
    network = state.networks[name]
    outputs = self.generators[name].apply(network.variables(ema=True),
                                          image_lib.normalize_images(padded), train=False)
    return jnp.clip(outputs[:, rows, columns], -1.0, 1.0)

  def translate(self, state: TrainState, inputs: jax.Array) -> jax.Array:
    """A -> B (translate_direction 'a2b')."""
    return self.translate_direction(state, inputs, 'a2b')

  def _translations(self, state: TrainState, batch: base.Batch) -> dict:
    """uint8 {'a2b', 'b2a', 'a2b2a', 'b2a2b'} of the batch's images (each step quantized, as
    files written and read back would be)."""
    outputs = {}
    for direction, back in (('a2b', 'b2a'), ('b2a', 'a2b')):
      outputs[direction] = image_lib.to_uint8(self.translate_direction(
          state, batch[direction[0]]['image'], direction))
      outputs[direction + back[1:]] = image_lib.to_uint8(self.translate_direction(
          state, outputs[direction], back))
    return outputs

  def image_grids(self, state: TrainState, rng: jax.Array, batch: base.Batch) -> dict:
    """One row per example: x | G(x) | the cycle back, for x in A and in B."""
    del rng
    outputs = {k: image_lib.normalize_images(v) for k, v in self._translations(state, batch).items()}
    grids = {}
    for domain, direction in (('a', 'a2b'), ('b', 'b2a')):
      channels = max(self.channels.values())
      rows = [image_lib.normalize_images(batch[domain]['image']), outputs[direction],
              outputs[f'{direction}2{domain}']]
      grids[f'{domain}_{direction}_{direction}2{domain}'] = jnp.concatenate(
          [common.with_channels(x, channels) for x in rows], axis=2)
    return grids

  def eval_metrics(self, state: TrainState, batch: base.Batch, rng: jax.Array) -> dict:
    del rng
    outputs = self._translations(state, batch)
    a, b = batch['a']['image'], batch['b']['image']
    metrics = {'cycle_psnr_a': image_quality.psnr(outputs['a2b2a'], a),
               'cycle_psnr_b': image_quality.psnr(outputs['b2a2b'], b)}
    if self.config.data.paired_test:
      for direction, target in (('a2b', b), ('b2a', a)):
        metrics[f'psnr_{direction}'] = image_quality.psnr(outputs[direction], target)
        metrics[f'ssim_{direction}'] = image_quality.ssim(outputs[direction], target)
    return metrics

  def eval_protocol(self) -> dict:
    protocol = {'outputs': 'EMA generators, quantized to uint8 after each translation',
                'cycle_psnr': 'PSNR of x -> G(x) -> back against x, peak 255, all channels',
                'coverage': 'example i of both held-out splits, each wrapped to the longer'}
    if self.config.data.paired_test:
      protocol.update(psnr='translation against the corresponding held-out image, peak 255, '
                           'all channels, no border crop',
                      ssim=f'{image_quality.SSIM_WINDOW}x{image_quality.SSIM_WINDOW} Gaussian '
                           'window (sigma 1.5), per channel, averaged')
    return protocol
