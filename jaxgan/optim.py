"""Optimizers and learning-rate schedules built from a per-network config block."""
import ml_collections
import optax

from jaxgan import config_lib

SCHEDULES = ('constant', 'cosine', 'linear_decay')


def make_schedule(optim_config: ml_collections.ConfigDict, num_steps: int) -> optax.Schedule:
  """Linear warm-up for `warmup_steps`, then `schedule` over the rest of `num_steps`."""
  peak, warmup = optim_config.learning_rate, optim_config.warmup_steps
  decay_steps = max(num_steps - warmup, 1)
  if optim_config.schedule == 'constant':
    main = optax.constant_schedule(peak)
  elif optim_config.schedule == 'cosine':
    main = optax.cosine_decay_schedule(peak, decay_steps)
  elif optim_config.schedule == 'linear_decay':
    main = optax.linear_schedule(peak, 0.0, decay_steps)
  else:
    raise config_lib.ConfigError(
        f'Unknown schedule {optim_config.schedule!r}; choose one of {SCHEDULES}.')
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
