"""Optimizers and learning-rate schedules built from a per-network config block."""
import ml_collections
import optax

from jaxgan import config_lib



def _constant_then_linear_decay(peak: float, steps: int, decay_start: float) -> optax.Schedule:
  """The peak for the first `decay_start` fraction of `steps`, then linearly to 0 at `steps`
  (CycleGAN, Zhu et al. 2017: 100 epochs constant, 100 decaying)."""
  if not 0 <= decay_start <= 1:
    raise config_lib.ConfigError(f'decay_start={decay_start} (the fraction of the steps held at '
                                 'the peak learning rate) must be in [0, 1].')
  hold = round(steps * decay_start)
  return optax.join_schedules([optax.constant_schedule(peak),
                               optax.linear_schedule(peak, 0.0, max(steps - hold, 1))], [hold])


# name -> (peak, steps after warm-up, the optimizer block) -> schedule
SCHEDULES = {
    'constant': lambda peak, steps, block: optax.constant_schedule(peak),
    'cosine': lambda peak, steps, block: optax.cosine_decay_schedule(peak, steps),
    'linear_decay': lambda peak, steps, block: optax.linear_schedule(peak, 0.0, steps),
    'constant_then_linear_decay': lambda peak, steps, block: _constant_then_linear_decay(
        peak, steps, block.get('decay_start', 0.5)),
}


def make_schedule(optim_config: ml_collections.ConfigDict, num_steps: int) -> optax.Schedule:
  """Linear warm-up for `warmup_steps`, then `schedule` (one of SCHEDULES) over the rest of
  `num_steps`."""
  peak, warmup = optim_config.learning_rate, optim_config.warmup_steps
  if optim_config.schedule not in SCHEDULES:
    raise config_lib.ConfigError(
        f'Unknown schedule {optim_config.schedule!r}; choose one of {tuple(SCHEDULES)}.')
  main = SCHEDULES[optim_config.schedule](peak, max(num_steps - warmup, 1), optim_config)
  if warmup == 0:
    return main
  return optax.join_schedules([optax.linear_schedule(0.0, peak, warmup), main], [warmup])


def make_optimizer(optim_config: ml_collections.ConfigDict,
                   schedule: optax.Schedule) -> optax.GradientTransformation:
  """adam(b1, b2, eps), or rmsprop with squared-gradient decay b2 and eps (WGAN's optimizer)."""
  if optim_config.name == 'adam':
    return optax.adam(schedule, b1=optim_config.b1, b2=optim_config.b2, eps=optim_config.eps)
  if optim_config.name == 'rmsprop':
    return optax.rmsprop(schedule, decay=optim_config.b2, eps=optim_config.eps)
  raise config_lib.ConfigError(
      f'Unknown optimizer {optim_config.name!r}; supported: adam, rmsprop.')
