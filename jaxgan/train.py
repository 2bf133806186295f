"""The one trainer: runs any model family's pure train_step over a device mesh.

train_and_evaluate(config, workdir) validates the config, opens the data, initializes or
resumes the state, then loops: sharded batch -> jitted step -> (at intervals) metrics, sample
grids, checkpoints and config.eval's evaluators (jaxgan/evaluation; keeps the best checkpoint).
Metrics stay on device between log steps (no per-step host sync); the step also records the
first step whose metrics were not finite, which is checked before every log line and every
checkpoint, so a NaN never reaches a checkpoint.
"""
import functools
import os
import time

from absl import logging
from clu import metric_writers
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgan import checkpoints
from jaxgan import config_lib
from jaxgan import data
from jaxgan import evaluation
from jaxgan import families
from jaxgan import images as image_lib
from jaxgan.evaluation import periodic
from jaxgan.families import base
from jaxgan.mesh import data_sharding, make_mesh, replicate, replicated_sharding

_NO_NONFINITE = -1


class NonFiniteLossError(FloatingPointError):
  """A training metric (a loss) became NaN or Inf."""


def zero_metric_sums(names, mesh):
  """Fresh on-device accumulators for the metrics `names` between two log steps."""
  sums = {name: np.zeros((), np.float32) for name in names}
  sums['num_steps'] = np.zeros((), np.int32)
  sums['first_nonfinite_step'] = np.full((), _NO_NONFINITE, np.int32)
  return replicate(sums, mesh)


def _accumulating_step(family, state, sums, batch, train_key):
  """family.train_step plus on-device metric sums and a record of the first non-finite step."""
  step = state.step
  state, metrics = family.train_step(state, batch, jax.random.fold_in(train_key, step))
  finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(jnp.asarray(v))) for v in metrics.values()]))
  new_sums = {name: sums[name] + jnp.asarray(value, jnp.float32) for name, value in metrics.items()}
  new_sums['num_steps'] = sums['num_steps'] + 1
  first = sums['first_nonfinite_step']
  new_sums['first_nonfinite_step'] = jnp.where(
      (first == _NO_NONFINITE) & ~finite, step, first).astype(jnp.int32)
  return state, new_sums


def compile_train_step(family, state, mesh):
  """jit of the accumulating step: batch sharded on `data`, all else replicated, donated."""
  replicated = replicated_sharding(mesh)
  return jax.jit(functools.partial(_accumulating_step, family),
                 in_shardings=(replicated, replicated, data_sharding(mesh), replicated),
                 out_shardings=(replicated, replicated), donate_argnums=(0, 1))


def metric_names(family, state, config):
  """Names of the family's metrics, from an abstract evaluation (no compute)."""
  batch = family.example_batch(base.phases(family)[0])
  _, metrics = jax.eval_shape(family.train_step, state, batch, jax.random.key(0))
  return sorted(metrics)


class SampleWriter:
  """Writes a grid of samples from a fixed latent batch as PNG and to TensorBoard, plus any
  grids of the family's optional `image_grids(state, rng, images) -> {name: images}` (e.g. a
  VAE's reconstructions) for the first `num_sample_images` training images."""

  def __init__(self, family, config, workdir, writer, mesh, source):
    self.directory = os.path.join(workdir, 'samples')
    self.writer, self.num = writer, config.train.num_sample_images
    self.key = families.root_keys(config.seed)['sample']
    self._sample = jax.jit(family.sample, static_argnums=2,
                           out_shardings=replicated_sharding(mesh))
    self._image_grids = None
    if base.has(family, 'image_grids'):
      self.examples = replicate(source.get(np.arange(min(self.num, len(source)))), mesh)
      self._image_grids = jax.jit(family.image_grids, out_shardings=replicated_sharding(mesh))

  def __call__(self, state, step: int) -> None:
    grids = {'samples': self._sample(state, self.key, self.num)}
    if self._image_grids:
      grids.update(self._image_grids(state, self.key, self.examples))
    for name, images in jax.device_get(grids).items():
      if jax.process_index() == 0:
        grid = image_lib.make_grid(image_lib.to_uint8(images))
        prefix = '' if name == 'samples' else f'{name}_'
        image_lib.save_png(grid, os.path.join(self.directory, f'{prefix}step_{step:07d}.png'))
        self.writer.write_images(step, {name: grid[None]})


def _restore_or_init(checkpointer, state):
  restored = checkpointer.restore(state)
  if restored is None:
    return state, 0
  state, meta = restored
  if int(meta['data_position']) != int(state.step):
    raise checkpoints.CheckpointError(
        f'Checkpoint {checkpointer.directory}/{meta["step"]} is inconsistent: data position '
        f'{meta["data_position"]} != state step {int(state.step)}.')
  logging.info('Resumed from %s/%d.', checkpointer.directory, meta['step'])
  return state, int(meta['data_position'])


def _check_finite(host_sums, checkpointer):
  first = int(host_sums['first_nonfinite_step'])
  if first != _NO_NONFINITE:
    latest = checkpointer.latest_step()
    where = (f'the last good checkpoint is {checkpointer.directory}/{latest}' if latest
             else 'no checkpoint was saved')
    raise NonFiniteLossError(
        f'A training metric became NaN or Inf at step {first + 1} (update {first}); stopping. '
        f'{where}. Lower the learning rates or check the data, then rerun to resume.')


def _log(writer, host_sums, step, num_steps, steps_per_sec):
  count = max(int(host_sums['num_steps']), 1)
  means = {k: float(v) / count for k, v in host_sums.items()
           if k not in ('num_steps', 'first_nonfinite_step')}
  scalars = dict(means, steps_per_sec=steps_per_sec) if steps_per_sec else means
  writer.write_scalars(step, scalars)
  eta = (num_steps - step) / steps_per_sec if steps_per_sec else float('nan')
  losses = ' '.join(f'{k}={v:.4f}' for k, v in means.items() if k.endswith('loss'))
  logging.info('step %d/%d %s steps/s=%.2f ETA=%s', step, num_steps, losses,
               steps_per_sec or float('nan'), time.strftime('%H:%M:%S', time.gmtime(eta))
               if np.isfinite(eta) else '?')


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, devices=None):
  """Trains `config` in `workdir`, resuming from its latest checkpoint. Returns the final state."""
  mesh = make_mesh(devices)
  config_lib.validate(config, mesh.size)
  train_source = data.open_source(config.data, config.data.train_split)
  family = families.make(config)
  if config.get('eval'):
    evaluation.check_config(config, family)
  is_chief = jax.process_index() == 0
  if is_chief:
    os.makedirs(workdir, exist_ok=True)
    config_lib.write_config_json(config, os.path.join(workdir, 'config.json'))
  writer = metric_writers.create_default_writer(workdir, just_logging=not is_chief)
  checkpointer = checkpoints.Checkpointer(os.path.join(workdir, 'checkpoints'),
                                          family.fingerprint(), config.train.keep_checkpoints)
  state, start_step = _restore_or_init(checkpointer, families.init_state(family, mesh))
  num_steps = config.train.num_steps
  if start_step >= num_steps:
    logging.info('Checkpoint step %d >= num_steps %d: nothing to train.', start_step, num_steps)
    return state

  names = metric_names(family, state, config)
  train_step = compile_train_step(family, state, mesh)
  write_samples = SampleWriter(family, config, workdir, writer, mesh, train_source)
  evaluate = (periodic.PeriodicEvaluation(config, family, workdir, writer, mesh)
              if config.get('eval') and config.eval.every_steps else None)
  train_key = replicate(families.root_keys(config.seed)['train'], mesh)
  sums = zero_metric_sums(names, mesh)
  batches = data.device_batches(train_source, config.train.batch_size, config.seed, start_step,
                                data_sharding(mesh), config.data.prefetch)
  train_cfg = config.train
  timer_step, timer_start = None, None
  try:
    for step in range(start_step + 1, num_steps + 1):  # `step` counts completed updates
      state, sums = train_step(state, sums, next(batches), train_key)
      is_last = step == num_steps
      log_now = step % train_cfg.log_every == 0 or is_last
      checkpoint_now = step % train_cfg.checkpoint_every == 0 or is_last
      if log_now or checkpoint_now:
        host_sums = jax.device_get(sums)
        _check_finite(host_sums, checkpointer)
        if log_now:
          now = time.perf_counter()
          steps_per_sec = ((step - timer_step) / (now - timer_start)) if timer_step else None
          _log(writer, host_sums, step, num_steps, steps_per_sec)
          sums = zero_metric_sums(names, mesh)
          timer_step, timer_start = step, time.perf_counter()
        if checkpoint_now:
          checkpointer.save(step, state, data_position=step)
      if step % train_cfg.sample_every == 0 or is_last:
        write_samples(state, step)
      if evaluate and (step % evaluate.every_steps == 0 or is_last):
        eval_start = time.perf_counter()
        evaluate(state, step)
        if timer_start is not None:  # keep evaluation time out of steps/s
          timer_start += time.perf_counter() - eval_start
      if timer_step is None and step == start_step + 1:  # exclude compilation from steps/s
        jax.block_until_ready(state)
        timer_step, timer_start = step, time.perf_counter()
  finally:
    batches.close()
    checkpointer.wait_until_finished()
    checkpointer.close()
    if evaluate:
      evaluate.close()
    writer.flush()
  return state
