"""Train state and update shared by the families that fit one network by gradient descent.

The VAE (encoder and decoder in one parameter tree) and PixelCNN families differ only in their
objective; the state they carry and the optimizer/EMA update after the gradient are the same.
"""
import flax
import jax
import jax.numpy as jnp
import optax

from jaxgan.families import gan


@flax.struct.dataclass
class SingleNetworkState:
  """Everything such a run needs to resume: parameters, optimizer state and their EMA."""
  step: jax.Array
  params: flax.core.FrozenDict
  opt_state: optax.OptState
  ema_params: flax.core.FrozenDict


def init_state(params, optimizer: optax.GradientTransformation) -> SingleNetworkState:
  return SingleNetworkState(step=jnp.zeros((), jnp.int32), params=params,
                            opt_state=optimizer.init(params), ema_params=params)


def apply_gradients(state: SingleNetworkState, grads, optimizer: optax.GradientTransformation,
                    ema_decay: float) -> SingleNetworkState:
  """One optimizer step on `grads`, then the EMA of the new parameters (gan.ema_update)."""
  updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  return state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                       ema_params=gan.ema_update(state.ema_params, params, ema_decay, state.step))
