"""NetworkState / TrainState: the optimizer, EMA and collections update every family uses."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from jaxgan.adversarial import losses
from jaxgan.adversarial import penalties
from jaxgan.training.state import NetworkState
from jaxgan.training.state import TrainState


def test_apply_gradients_is_optax_then_constraint_then_warmed_up_ema():
  variables = {'params': {'w': jnp.array([1.0, -2.0])}, 'batch_stats': {'mean': jnp.zeros(2)}}
  optimizer = optax.sgd(0.5)
  network = NetworkState.create(variables, optimizer, ema=True)
  grads = {'w': jnp.array([2.0, 2.0])}
  new = network.apply_gradients(grads, optimizer, collections={'batch_stats': {'mean': 1.0}},
                                ema_decay=0.999, constrain=lambda p: jax.tree.map(
                                    lambda x: jnp.clip(x, -2.5, 2.5), p))
  np.testing.assert_allclose(new.params['w'], [0.0, -2.5])  # 1 - 1 = 0; -2 - 1 clipped
  decay = min(0.999, 1.0 / 10.0)  # warm-up at update 0: (1 + 0) / (10 + 0)
  np.testing.assert_allclose(new.ema_params['w'], decay * np.array([1.0, -2.0])
                             + (1 - decay) * np.array([0.0, -2.5]), rtol=1e-6)
  assert int(new.step) == 1 and new.collections == {'batch_stats': {'mean': 1.0}}
  assert new.variables()['batch_stats'] == {'mean': 1.0}
  np.testing.assert_array_equal(new.variables(ema=True)['params']['w'], new.ema_params['w'])


def test_a_network_without_ema_keeps_none_and_train_state_names_its_networks():
  optimizer = optax.sgd(1.0)
  d = NetworkState.create({'params': {'w': jnp.ones(1)}}, optimizer, ema=False)
  d = d.apply_gradients({'w': jnp.ones(1)}, optimizer)
  assert d.ema_params == {} and float(d.params['w'][0]) == 0.0
  state = TrainState.create({'discriminator': d})
  assert state.discriminator is d
  assert int(state.update(discriminator=d).step) == 1
  assert len(jax.tree.leaves(state)) == len(jax.tree.leaves(d)) + 1  # + the step


def test_losses_and_penalties_take_patch_logits_of_any_shape():
  rng = np.random.default_rng(0)
  real, fake = rng.normal(size=(4, 3, 3)), rng.normal(size=(4, 3, 3))
  hinge = losses.get('hinge')
  np.testing.assert_allclose(hinge.discriminator(jnp.asarray(real), jnp.asarray(fake)),
                             np.mean(np.maximum(0, 1 - real)) + np.mean(np.maximum(0, 1 + fake)),
                             rtol=1e-6)
  # A PatchGAN-like critic: 3x3 patch logits, each patch a weighted sum of its pixels squared.
  weights = jnp.asarray(rng.normal(size=(6, 6)))

  def patch_critic(images):
    x = (images[..., 0] ** 2) * weights
    return x.reshape(-1, 3, 2, 3, 2).sum(axis=(2, 4))

  images = jnp.asarray(rng.normal(size=(4, 6, 6, 1)))
  expected = 0.5 * np.mean(np.sum((2 * np.asarray(images)[..., 0] * np.asarray(weights)) ** 2,
                                  axis=(1, 2)))
  np.testing.assert_allclose(penalties.r1(patch_critic, images, None, None), expected, rtol=1e-5)


@pytest.mark.parametrize('name', sorted(losses.LOSSES))
def test_every_loss_averages_patch_logits_over_all_elements(name):
  loss = losses.get(name)
  rng = np.random.default_rng(1)
  real, fake = jnp.asarray(rng.normal(size=(4, 3, 5))), jnp.asarray(rng.normal(size=(4, 3, 5)))
  flat = lambda x: x.reshape(-1)  # the same elements as one long batch of scalar logits
  np.testing.assert_allclose(loss.discriminator(real, fake),
                             loss.discriminator(flat(real), flat(fake)), rtol=1e-6)
  if loss.generator_uses_real:
    np.testing.assert_allclose(loss.generator(fake, real),
                               loss.generator(flat(fake), flat(real)), rtol=1e-6)
  else:
    np.testing.assert_allclose(loss.generator(fake), loss.generator(flat(fake)), rtol=1e-6)


@pytest.mark.parametrize('name', ['wgan_gp', 'dragan', 'r1'])
def test_every_penalty_of_a_patch_critic_equals_that_of_its_summed_logits(name):
  """Per-example input gradients of a PatchGAN's [N, h, w] logits are those of their sum."""
  config = ml_collections.ConfigDict({'penalty': name, 'clip_value': 0.0})
  penalty = penalties.get(config).penalty
  rng = np.random.default_rng(2)
  weights = jnp.asarray(rng.normal(size=(6, 6)))

  def patch_critic(images):
    x = jnp.tanh(images[..., 0] * weights)
    return x.reshape(-1, 3, 2, 3, 2).sum(axis=(2, 4))

  real, fake = (jnp.asarray(rng.normal(size=(4, 6, 6, 1)), jnp.float32) for _ in range(2))
  key = jax.random.key(0)
  patch = penalty(patch_critic, real, fake, key)
  summed = penalty(lambda x: patch_critic(x).sum(axis=(1, 2)), real, fake, key)
  assert float(patch) > 0
  np.testing.assert_allclose(patch, summed, rtol=1e-5)
