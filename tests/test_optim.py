"""Learning-rate schedules and optimizers (jaxgan/training/optim.py) against their formulas, by
hand."""
import math

import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from configs import blocks
from jaxgan import config_lib
from jaxgan.training import optim

PEAK, NUM_STEPS = 3e-3, 100
STEPS = (0, 1, 5, 10, 11, 37, 55, 99, 100, 150)


def _block(name='adam', schedule='constant', warmup=0, learning_rate=PEAK, b1=0.5, b2=0.9,
           eps=1e-3):
  block = blocks.adam(learning_rate, b1, b2, eps)
  block.name, block.schedule, block.warmup_steps = name, schedule, warmup
  return block


def _after_warmup(schedule, t, decay_steps):
  """The schedule's formula at t steps after the warm-up, over `decay_steps` steps."""
  progress = min(t, decay_steps) / decay_steps
  if schedule == 'constant':
    return PEAK
  if schedule == 'cosine':
    return PEAK * 0.5 * (1 + math.cos(math.pi * progress))
  if schedule == 'constant_then_linear_decay':  # decay_start 0.5: held for half the steps
    hold = round(0.5 * decay_steps)
    return PEAK * (1 - min(max(t - hold, 0), decay_steps - hold) / (decay_steps - hold))
  return PEAK * (1 - progress)  # linear_decay


@pytest.mark.parametrize('warmup', [0, 10])
@pytest.mark.parametrize('schedule', optim.SCHEDULES)
def test_schedules_follow_their_formulas(schedule, warmup):
  fn = optim.make_schedule(_block(schedule=schedule, warmup=warmup), NUM_STEPS)
  for t in STEPS:
    if t < warmup:
      expected = PEAK * t / warmup  # linear warm-up from 0
    else:
      expected = _after_warmup(schedule, t - warmup, NUM_STEPS - warmup)
    np.testing.assert_allclose(float(fn(t)), expected, rtol=1e-5, atol=PEAK * 1e-6,
                               err_msg=f'{schedule} warmup={warmup} t={t}')


def test_decay_ends_at_zero_at_num_steps():
  for schedule in ('cosine', 'linear_decay', 'constant_then_linear_decay'):
    fn = optim.make_schedule(_block(schedule=schedule, warmup=10), NUM_STEPS)
    assert float(fn(10)) == pytest.approx(PEAK)
    assert float(fn(NUM_STEPS)) == pytest.approx(0.0, abs=1e-12)
    assert float(fn(NUM_STEPS - 5)) < PEAK


@pytest.mark.parametrize('decay_start', [0.0, 0.25, 1.0])
def test_constant_then_linear_decay_holds_the_peak_for_its_fraction(decay_start):
  block = _block(schedule='constant_then_linear_decay')
  block.decay_start = decay_start
  fn = optim.make_schedule(block, NUM_STEPS)
  hold = round(decay_start * NUM_STEPS)
  for t in range(0, NUM_STEPS + 1, 5):
    expected = PEAK if t <= hold else PEAK * (NUM_STEPS - t) / (NUM_STEPS - hold)
    assert float(fn(t)) == pytest.approx(expected, rel=1e-5, abs=1e-12), t


def test_decay_start_outside_the_unit_interval_is_refused():
  block = _block(schedule='constant_then_linear_decay')
  block.decay_start = 1.5
  with pytest.raises(config_lib.ConfigError, match='decay_start=1.5'):
    optim.make_schedule(block, NUM_STEPS)


GRADIENTS = [np.float32([[0.3, -1.2], [2.0, 1e-3]]), np.float32([[-0.1, 0.4], [1.5, -2.0]]),
             np.float32([[0.7, 0.0], [-3.0, 0.2]])]


def _run(optimizer, gradients):
  """The parameters after applying `optimizer` to `gradients` in turn, from zeros."""
  params = {'w': jnp.zeros((2, 2))}
  state = optimizer.init(params)
  for grad in gradients:
    updates, state = optimizer.update({'w': jnp.asarray(grad)}, state, params)
    params = optax.apply_updates(params, updates)
  return np.asarray(params['w'])


def test_adam_matches_a_hand_computation_with_its_b1_b2_eps_and_schedule():
  block = _block('adam', 'linear_decay', warmup=0, b1=0.5, b2=0.9, eps=1e-3)
  schedule = optim.make_schedule(block, num_steps=4)
  got = _run(optim.make_optimizer(block, schedule), GRADIENTS)
  params, m, v = np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 2))
  for t, g in enumerate(GRADIENTS, start=1):
    m = 0.5 * m + 0.5 * g
    v = 0.9 * v + 0.1 * g ** 2
    m_hat, v_hat = m / (1 - 0.5 ** t), v / (1 - 0.9 ** t)
    learning_rate = PEAK * (1 - (t - 1) / 4)  # update t uses the schedule at step t - 1
    params -= learning_rate * m_hat / (np.sqrt(v_hat) + 1e-3)
  np.testing.assert_allclose(got, params, rtol=1e-5, atol=1e-9)


def test_rmsprop_matches_a_hand_computation_with_decay_b2_and_eps():
  block = _block('rmsprop', 'constant', b1=0.5, b2=0.8, eps=1e-2)
  got = _run(optim.make_optimizer(block, optim.make_schedule(block, NUM_STEPS)), GRADIENTS)
  params, v = np.zeros((2, 2)), np.zeros((2, 2))
  for g in GRADIENTS:
    v = 0.8 * v + 0.2 * g ** 2  # no momentum (b1 unused), no bias correction
    # optax puts eps inside the square root; PyTorch's RMSprop (WGAN's code) adds it outside.
    params -= PEAK * g / np.sqrt(v + 1e-2)
  np.testing.assert_allclose(got, params, rtol=1e-5, atol=1e-9)


def test_warmup_starts_the_updates_at_zero():
  block = _block('adam', 'constant', warmup=2)
  optimizer = optim.make_optimizer(block, optim.make_schedule(block, NUM_STEPS))
  np.testing.assert_array_equal(_run(optimizer, GRADIENTS[:1]), np.zeros((2, 2)))
  assert np.all(_run(optimizer, GRADIENTS[:2]) != 0)


def test_unknown_schedule_and_optimizer_are_explained():
  with pytest.raises(ValueError, match="Unknown schedule 'step'"):
    optim.make_schedule(_block(schedule='step'), NUM_STEPS)
  block = ml_collections.ConfigDict(_block().to_dict())
  block.name = 'sgd'
  with pytest.raises(ValueError, match="Unknown optimizer 'sgd'"):
    optim.make_optimizer(block, optax.constant_schedule(PEAK))
