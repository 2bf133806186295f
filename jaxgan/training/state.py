"""Train state: one `NetworkState` per trained network, gathered in one `TrainState` per run.

Every family keeps its state in a `TrainState`: the update count `step`, a dict of named
networks (a GAN's {'generator', 'discriminator'}, a VAE's {'model'}, CycleGAN's four) and a
dict of `extras` for what a family carries besides networks (e.g. CycleGAN's image pools).
Everything needed to resume bitwise is in it, so the checkpoint is the state and nothing else.
"""
from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp
import optax


def ema_update(ema, params, decay: float, step: jax.Array):
  """EMA with warm-up: the effective decay min(decay, (1 + step) / (10 + step)) lets early
  samples follow the network instead of its random init (as in TF's ExponentialMovingAverage
  with num_updates)."""
  decay = jnp.minimum(decay, (1.0 + step) / (10.0 + step))
  return jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, ema, params)


@flax.struct.dataclass
class NetworkState:
  """One network: parameters, optimizer state, mutable collections, optional EMA.

  `collections` holds what a training forward pass updates besides parameters (flax
  collections such as 'batch_stats' and 'spectral'); `ema_params` is {} for a network whose
  EMA is not kept. `step` counts this network's optimizer updates (a GAN's D may take several
  per train step).
  """
  step: jax.Array
  params: Any
  opt_state: optax.OptState
  collections: dict
  ema_params: Any

  @classmethod
  def create(cls, variables: dict, optimizer: optax.GradientTransformation,
             ema: bool) -> 'NetworkState':
    """From flax `variables` ({'params': ..., other collections}) as returned by Module.init."""
    params = variables['params']
    collections = {name: value for name, value in variables.items() if name != 'params'}
    return cls(step=jnp.zeros((), jnp.int32), params=params, opt_state=optimizer.init(params),
               collections=collections, ema_params=params if ema else {})

  def variables(self, params=None, ema: bool = False) -> dict:
    """Flax variables to apply the network with: `params` (default: its own, or its EMA)."""
    if params is None:
      params = self.ema_params if ema else self.params
    return {'params': params, **self.collections}

  def apply_gradients(self, grads, optimizer: optax.GradientTransformation, *,
                      collections: dict | None = None, ema_decay: float | None = None,
                      constrain: Callable | None = None) -> 'NetworkState':
    """One optimizer step on `grads`; then `constrain` (e.g. weight clipping) on the new
    parameters, the EMA update with `ema_decay` (if the EMA is kept), and the new mutable
    `collections` (None: unchanged)."""
    updates, opt_state = optimizer.update(grads, self.opt_state, self.params)
    params = optax.apply_updates(self.params, updates)
    if constrain is not None:
      params = constrain(params)
    ema_params = self.ema_params
    if jax.tree.leaves(ema_params):
      if ema_decay is None:
        raise ValueError('This network keeps an EMA: pass ema_decay to apply_gradients.')
      ema_params = ema_update(ema_params, params, ema_decay, self.step)
    return self.replace(step=self.step + 1, params=params, opt_state=opt_state,
                        collections=self.collections if collections is None else collections,
                        ema_params=ema_params)


@flax.struct.dataclass
class TrainState:
  """A run's state: `step` (train steps done), named networks, family-specific extras, and the
  `frozen` parameters of pretrained networks the family uses (not checkpointed: they come from
  their weight files, see families.init_state)."""
  step: jax.Array
  networks: dict[str, NetworkState]
  extras: dict = flax.struct.field(default_factory=dict)
  frozen: dict = flax.struct.field(default_factory=dict)

  @classmethod
  def create(cls, networks: dict[str, NetworkState], extras: dict | None = None
             ) -> 'TrainState':
    return cls(step=jnp.zeros((), jnp.int32), networks=networks, extras=extras or {})

  def __getattr__(self, name: str):
    """state.generator is state.networks['generator']."""
    networks = self.__dict__.get('networks') or {}
    if name in networks:
      return networks[name]
    raise AttributeError(name)

  def update(self, **networks: NetworkState) -> 'TrainState':
    """The next step's state with the given networks replaced."""
    return self.replace(step=self.step + 1, networks={**self.networks, **networks})
