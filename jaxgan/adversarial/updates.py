"""The adversarial updates that every GAN-trained family shares (GAN zoo, pix2pix, SRGAN, ...).

A family describes its discriminator as a `Critic`: a Flax module plus what it is shown. The
module is applied as `module.apply(variables, images, condition, train=True, rngs={'dropout'},
mutable=...)` and returns (logits, class_logits or None); `condition` is whatever D sees beside
the image (class labels for a cGAN, the source image for pix2pix, None). Logits may have any
shape with a leading batch axis (a PatchGAN's [N, h, w]): losses average over all elements and
penalties take per-example input gradients of the summed logits.

  discriminator_update(critic, d, real, fake, rng, update_index) -> (d, metrics)
      one D step on real and (already generated, gradient-stopped) fake `Scored` inputs
  generator_adversarial_loss(critic, d, fake, rng) -> (loss, class_logits)
      G's side of the loss, to add to the family's own generator objective
"""
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxgan.adversarial import augment
from jaxgan.adversarial import losses
from jaxgan.adversarial import penalties
from jaxgan.training import gradients
from jaxgan.training import optim
from jaxgan.training.state import NetworkState


class Scored(NamedTuple):
  """Images D scores, with what it sees beside them (labels, a source image, or None)."""
  images: jax.Array
  condition: Any = None


class Critic(NamedTuple):
  """A discriminator and how it is trained (the config's gan block, resolved)."""
  module: Any  # flax module: (images, condition, train) -> (logits, class_logits | None)
  optimizer: optax.GradientTransformation
  loss: losses.GanLoss
  regularizer: penalties.Regularizer
  penalty_weight: float = 0.0
  penalty_interval: int = 1  # lazy regularization: every k-th update, scaled by k
  augment_policy: tuple = ()  # DiffAugment ops applied to every image D sees
  # AC-GAN's auxiliary loss on class_logits (Odena et al. 2017); None: no auxiliary classifier.
  classifier_loss: Callable[[jax.Array, Any], jax.Array] | None = None
  classifier_weight: float = 1.0
  mutable: tuple = ('batch_stats', 'spectral')
  # G's loss scores its fakes in one pass with the (gradient-stopped) real images, the batch
  # D's update sees: a D with batch norm then normalizes both by the same mixed statistics.
  score_with_real: bool = False
  # ProGAN's drift term, drift_weight * mean(D(real)^2), keeps a Wasserstein critic's outputs
  # near zero (Karras et al. 2018, arXiv:1710.10196, sec. A.1: 1e-3); counted in the penalty.
  drift_weight: float = 0.0
  microbatches: int = 1  # config.train.microbatches: D's gradients accumulated over them

  def apply(self, d: NetworkState, params, scored: Scored, rng: jax.Array):
    """D in training mode: ((logits, class_logits), updated collections)."""
    variables = {'params': params, **d.collections}
    outputs, updates = self.module.apply(variables, scored.images, scored.condition, train=True,
                                         rngs={'dropout': rng}, mutable=list(self.mutable))
    return outputs, {**d.collections, **updates}

  def augment(self, images: jax.Array, rng: jax.Array) -> jax.Array:
    return augment.diff_augment(images, rng, self.augment_policy)

  def auxiliary_loss(self, class_logits, condition) -> jax.Array:
    if self.classifier_loss is None:
      return jnp.zeros((), jnp.float32)
    return self.classifier_weight * self.classifier_loss(class_logits, condition)


def image_critic(module, config, mutable: tuple = ('batch_stats',),
                 score_with_real: bool = False) -> Critic:
  """The Critic of an image-to-image family (super-resolution, pix2pix, inpainting, unpaired):
  `module` trained with config.optim.discriminator over train.num_steps, config.gan's loss and
  penalty."""
  block = config.optim.discriminator
  return Critic(module=module,
                optimizer=optim.make_optimizer(block, optim.make_schedule(
                    block, config.train.num_steps)),
                loss=losses.get(config.gan.loss), regularizer=penalties.get(config.gan),
                penalty_weight=config.gan.penalty_weight, mutable=mutable,
                score_with_real=score_with_real,
                microbatches=gradients.microbatches(config))


def _concatenate(a, b):
  return jax.tree.map(lambda x, y: jnp.concatenate([x, y]), a, b)


def _penalty(critic: Critic, d: NetworkState, params, real: Scored, fake: Scored,
             update_index, rng):
  """penalty_weight x penalty, every `penalty_interval`-th D update scaled by the interval
  (lazy regularization, Karras et al. 2020, arXiv:1912.04958)."""
  if critic.penalty_weight == 0.0:
    return jnp.zeros((), jnp.float32)
  dropout_rng, penalty_rng = jax.random.split(rng)

  def discriminate(images):
    (logits, _), _ = critic.apply(d, params, Scored(images, real.condition), dropout_rng)
    return logits

  def penalty():
    return critic.penalty_weight * critic.penalty_interval * critic.regularizer.penalty(
        discriminate, real.images, fake.images, penalty_rng)

  if critic.penalty_interval == 1:
    return penalty()
  return jax.lax.cond(update_index % critic.penalty_interval == 0, penalty,
                      lambda: jnp.zeros((), jnp.float32))


def discriminator_update(critic: Critic, d: NetworkState, real: Scored, fake: Scored,
                         rng: jax.Array, update_index: jax.Array | int = 0
                         ) -> tuple[NetworkState, dict]:
  """One D update: real and fake scored in one (augmented) pass, plus the penalty; gradients
  accumulated over `critic.microbatches` micro-batches (jaxgan/training/gradients.py)."""
  fake = Scored(jax.lax.stop_gradient(fake.images), fake.condition)

  def objective(params, inputs, rng):
    real, fake = inputs
    num = real.images.shape[0]
    augment_rng, dropout_rng, penalty_rng = jax.random.split(rng, 3)
    both = Scored(critic.augment(jnp.concatenate([real.images, fake.images]), augment_rng),
                  _concatenate(real.condition, fake.condition))
    (logits, class_logits), collections = critic.apply(d, params, both, dropout_rng)
    loss = critic.loss.discriminator(logits[:num], logits[num:])
    loss += critic.auxiliary_loss(class_logits, both.condition)
    penalty = _penalty(critic, d, params, real, fake, update_index, penalty_rng)
    if critic.drift_weight:
      penalty += critic.drift_weight * jnp.mean(jnp.square(logits[:num].astype(jnp.float32)))
    metrics = {
        'discriminator_loss': loss,
        'discriminator_penalty': penalty,
        'discriminator_real': jnp.mean(jax.nn.sigmoid(logits[:num].astype(jnp.float32))),
        'discriminator_fake': jnp.mean(jax.nn.sigmoid(logits[num:].astype(jnp.float32))),
    }
    return loss + penalty, (metrics, collections)

  (_, (metrics, collections)), grads = gradients.value_and_grad(
      objective, d.params, (real, fake), rng, critic.microbatches)
  d = d.apply_gradients(grads, critic.optimizer, collections=collections,
                        constrain=critic.regularizer.constrain)
  return d, metrics


def generator_adversarial_loss(critic: Critic, d: NetworkState, fake: Scored,
                               rng: jax.Array, real: Scored | None = None) -> jax.Array:
  """G's adversarial loss (plus the auxiliary classifier loss) against D in training mode,
  differentiable with respect to `fake.images`; D's collections are not updated. A relativistic
  loss (`critic.loss.generator_uses_real`) or a critic with `score_with_real` needs `real`,
  scored in the same pass, gradient-stopped."""
  augment_rng, dropout_rng = jax.random.split(rng)
  uses_real = critic.loss.generator_uses_real
  if not (uses_real or critic.score_with_real):
    scored = Scored(critic.augment(fake.images, augment_rng), fake.condition)
    (logits, class_logits), _ = critic.apply(d, d.params, scored, dropout_rng)
    return critic.loss.generator(logits) + critic.auxiliary_loss(class_logits, fake.condition)
  if real is None:
    raise ValueError('A relativistic GAN loss, or a critic with score_with_real, scores real '
                     'images in G\'s loss: pass `real`.')
  num = fake.images.shape[0]
  real_images = jax.lax.stop_gradient(real.images)
  both = Scored(critic.augment(jnp.concatenate([fake.images, real_images]), augment_rng),
                _concatenate(fake.condition, real.condition))
  (logits, class_logits), _ = critic.apply(d, d.params, both, dropout_rng)
  loss = (critic.loss.generator(logits[:num], jax.lax.stop_gradient(logits[num:])) if uses_real
          else critic.loss.generator(logits[:num]))
  return loss + critic.auxiliary_loss(class_logits[:num] if class_logits is not None else None,
                                      fake.condition)
