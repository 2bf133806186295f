"""The one trainer: runs any model family's pure train_step over a device mesh.

train_and_evaluate(config, workdir) checks everything first (config, family, phases, data, the
latest checkpoint) and writes nothing until those checks pass; then, phase by phase
(jaxgan/training/phases.py), it compiles one step, streams sharded batches and loops: jitted step ->
(at intervals) metrics, sample grids, checkpoints and config.eval's evaluators (the best
checkpoint follows config.eval.best_metric); with several phases, sample grids and evaluations
also at every phase end. Metrics stay on device between log steps (no per-step host sync); the
step also records the first step whose metrics were not finite, which is checked before every
log line and every checkpoint, so a NaN never reaches a checkpoint. SIGINT or SIGTERM ends the
step in flight, checkpoints it and raises preemption.TrainingStopped (jaxgan/training/
preemption.py); a run that ends logs a summary of what it wrote where.
"""
import functools
import os
import time

from absl import logging
from jaxgan.training import writers
import jax
from jax.experimental import multihost_utils
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgan import config_lib
from jaxgan.data import images as image_lib
from jaxgan.data import sources as data
from jaxgan import evaluation
from jaxgan.evaluation import periodic
from jaxgan.evaluation import progress as progress_lib
from jaxgan.evaluation import results as results_lib
from jaxgan import families
from jaxgan.families import base
from jaxgan.training import checkpoints
from jaxgan.training import gradients
from jaxgan.training import phases as phases_lib
from jaxgan.training import preemption
from jaxgan.training.mesh import bytes_per_device, data_sharding, mesh_from_config, replicate
from jaxgan.training.mesh import replicated_sharding, tracing_step

_NO_NONFINITE = -1


class NonFiniteLossError(FloatingPointError):
  """A training metric (a loss) became NaN or Inf."""


def zero_metric_sums(names, mesh):
  """Fresh on-device accumulators for the metrics `names` between two log steps."""
  sums = {name: np.zeros((), np.float32) for name in names}
  sums['num_steps'] = np.zeros((), np.int32)
  sums['first_nonfinite_step'] = np.full((), _NO_NONFINITE, np.int32)
  return replicate(sums, mesh)


def _accumulating_step(family, mesh, state, sums, batch, train_key):
  """family.train_step plus on-device metric sums and a record of the first non-finite step."""
  step = state.step
  with tracing_step(mesh):
    state, metrics = family.train_step(state, batch, jax.random.fold_in(train_key, step))
  finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(jnp.asarray(v))) for v in metrics.values()]))
  new_sums = {name: sums[name] + jnp.asarray(value, jnp.float32) for name, value in metrics.items()}
  new_sums['num_steps'] = sums['num_steps'] + 1
  first = sums['first_nonfinite_step']
  new_sums['first_nonfinite_step'] = jnp.where(
      (first == _NO_NONFINITE) & ~finite, step, first).astype(jnp.int32)
  return state, new_sums


def jit_train_step(family, mesh, state_sharding=None):
  """jit of the accumulating step: the state in `state_sharding` (default: what the sharding
  rules give the family's initial state) in and out, the batch on `data` x `fsdp`, sums and
  key replicated; state and sums donated."""
  if state_sharding is None:
    state_sharding = families.state_shardings(family, mesh)
  replicated = replicated_sharding(mesh)
  return jax.jit(functools.partial(_accumulating_step, family, mesh),
                 in_shardings=(state_sharding, replicated, data_sharding(mesh), replicated),
                 out_shardings=(state_sharding, replicated), donate_argnums=(0, 1))


def batch_spec(family, phase: base.Phase, mesh):
  """The global batch of `phase` as ShapeDtypeStructs sharded on `data` x `fsdp`."""
  sharding = data_sharding(mesh)
  return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding),
                      family.example_batch(phase))


def memory_report(state, compiled) -> dict:
  """Per-device bytes of the state (from its arrays' shards) and of the compiled step's
  temporaries (XLA's memory analysis; None where the backend gives none)."""
  analysis = compiled.memory_analysis()
  return {'state_bytes_per_device': bytes_per_device(state),
          'step_temp_bytes_per_device': getattr(analysis, 'temp_size_in_bytes', None)}


def compile_train_step(family, state, sums, train_key, phase: base.Phase, mesh):
  """The step of `phase`, compiled ahead of time (exactly once per phase) for the state's own
  shardings, with log lines: compile time and per-device memory."""
  logging.info('Compiling the train step of phase %r (batch %d, %dx%d images) on mesh %s...',
               phase.name, phase.batch_size, phase.image_size, phase.image_size,
               dict(mesh.shape))
  start = time.perf_counter()
  compiled = jit_train_step(family, mesh, families.sharding_of(state)).lower(
      state, sums, batch_spec(family, phase, mesh), train_key).compile()
  memory = memory_report(state, compiled)
  temp = memory['step_temp_bytes_per_device']
  logging.info('Compiled in %.1f s. Per device: state %s bytes, step temporaries %s bytes.',
               time.perf_counter() - start, f'{memory["state_bytes_per_device"]:,}',
               'unknown' if temp is None else f'{temp:,}')
  return compiled


def metric_names(family, state, phase: base.Phase):
  """Names of the family's metrics, from an abstract evaluation (no compute)."""
  _, metrics = jax.eval_shape(family.train_step, state, family.example_batch(phase),
                              jax.random.key(0))
  return sorted(metrics)


def run_steps(config, num_steps: int, devices=None, transform_initial=None):
  """The trainer's compiled step run `num_steps` times on config.mesh over `devices` (default:
  all) from a fresh state (passed through `transform_initial` if given), with every step's
  metrics pulled to the host: (final state, per-step metrics, the jitted step). No workdir,
  checkpoints or evaluation: what tests and experiments compare across mesh shapes,
  micro-batches or implementations."""
  mesh = mesh_from_config(config, devices)
  family = families.make(config)
  state = families.init_state(family, mesh)
  if transform_initial is not None:
    state = transform_initial(state)
  phase = base.phases(family)[0]
  names = metric_names(family, state, phase)
  step_fn = jit_train_step(family, mesh, families.sharding_of(state))
  train_key = replicate(families.root_keys(config.seed)['train'], mesh)
  batches = data.device_batches(data.open_source(config.data, config.data.train_split),
                                phase.batch_size, config.seed, 0, data_sharding(mesh))
  history = []
  for _ in range(num_steps):
    state, sums = step_fn(state, zero_metric_sums(names, mesh), next(batches), train_key)
    history.append({k: float(v) for k, v in jax.device_get(sums).items()})
  batches.close()
  return state, history, step_fn


class SampleWriter:
  """Writes grids as PNG and to TensorBoard: samples from a fixed key (families that can
  sample) and the family's `image_grids` of the first `num_sample_images` training examples
  (e.g. a VAE's reconstructions, a translation's inputs, outputs and targets)."""

  def __init__(self, family, config, workdir, writer, mesh, source):
    self.directory = os.path.join(workdir, 'samples')
    self.writer, self.num = writer, config.train.num_sample_images
    self.key = families.root_keys(config.seed)['sample']
    replicated = replicated_sharding(mesh)
    self._sample = (jax.jit(family.sample, static_argnums=2, out_shardings=replicated)
                    if base.has(family, 'sample') else None)
    self._image_grids = None
    if base.has(family, 'image_grids'):
      self.examples = replicate(data.first_examples(source, self.num), mesh)
      self._image_grids = jax.jit(family.image_grids, out_shardings=replicated)

  def __call__(self, state, step: int) -> None:
    grids = {}
    if self._sample:
      grids['samples'] = self._sample(state, self.key, self.num)
    if self._image_grids:
      grids.update(self._image_grids(state, self.key, self.examples))
    for name, images in jax.device_get(grids).items():
      if jax.process_index() == 0:
        grid = image_lib.make_grid(image_lib.to_uint8(images))
        prefix = '' if name == 'samples' else f'{name}_'
        image_lib.save_png(grid, os.path.join(self.directory, f'{prefix}step_{step:07d}.png'))
        self.writer.write_images(step, {name: grid[None]})


def _restore(checkpoint_dir: str, family, config, state, schedule: phases_lib.PhaseSchedule):
  """(state, step) of the latest checkpoint in `checkpoint_dir`, or (state, 0) if none.

  Read-only: a directory that does not exist is not created. The checkpoint's phase and data
  position must be those the config's phases give for its step.
  """
  if not os.path.isdir(checkpoint_dir):
    return state, 0
  checkpointer = checkpoints.Checkpointer(checkpoint_dir, family.fingerprint(),
                                          config.train.keep_checkpoints)
  try:
    restored = checkpointer.restore(state)
  finally:
    checkpointer.close()
  if restored is None:
    return state, 0
  state, meta = restored
  step = int(state.step)
  expected = (schedule.phase_index(step), schedule.position(step))
  found = (meta.get('phase'), meta.get('data_position'))
  if found != expected:
    raise checkpoints.CheckpointError(
        f'Checkpoint {checkpoint_dir}/{meta["step"]} (phase, data position) = {found}, but the '
        f"config's phases give {expected} at step {step}: the phases or batch sizes changed. "
        'Train with the config in config.json, or in a new --workdir.')
  logging.info('Resumed from %s/%d (phase %d, %d examples seen).', checkpoint_dir, step,
               expected[0], expected[1])
  return state, step


def _check_finite(host_sums, checkpointer):
  first = int(host_sums['first_nonfinite_step'])
  if first != _NO_NONFINITE:
    latest = checkpointer.latest_step()
    where = (f'the last good checkpoint is {checkpointer.directory}/{latest}' if latest
             else 'no checkpoint was saved')
    raise NonFiniteLossError(
        f'A training metric became NaN or Inf at step {first + 1} (update {first}); stopping. '
        f'{where}. Lower the learning rates or check the data, then rerun to resume.')


def _log(writer, host_sums, step, num_steps, steps_per_sec) -> dict[str, float]:
  """Writes and logs the means of the metrics since the last log step; returns them."""
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
  return means


def _log_summary(workdir, writer, evaluate, start_step, num_steps, seconds, means) -> None:
  """The closing lines of a run: what was done and where everything it wrote is (full paths)."""
  workdir = os.path.abspath(workdir)
  where = {'checkpoints': f'{workdir}/checkpoints (latest: step {num_steps})',
           'sample grids': os.path.isdir(f'{workdir}/samples') and f'{workdir}/samples',
           'events (TensorBoard)': writer.path and os.path.abspath(writer.path),
           'eval results': evaluate and results_lib.results_path(workdir),
           'best checkpoint': evaluate and evaluate.best_metric and f'{workdir}/checkpoints_best'}
  lines = [f'Trained steps {start_step + 1}..{num_steps} in '
           f'{time.strftime("%H:%M:%S", time.gmtime(seconds))} (compilation included).',
           'Last metrics (means since the previous log step): '
           + ' '.join(f'{k}={v:.4g}' for k, v in means.items())]
  lines += [f'{name}: {path}' for name, path in where.items() if path]
  logging.info('\n  '.join(lines))


def _phase_record(index: int, phase: base.Phase) -> dict:
  """What results.json records of the phase whose updates made the evaluated state."""
  return {'index': index, 'name': phase.name, 'image_size': phase.image_size}


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, devices=None):
  """Trains `config` in `workdir`, resuming from its latest checkpoint. Returns the final state.

  Every check (config, family, phases, data, checkpoint) runs before anything is written, so a
  run that fails one leaves the workdir as it was.
  """
  config_lib.validate(config, len(jax.devices() if devices is None else devices))
  mesh = mesh_from_config(config, devices)
  family = families.make(config)
  if config.get('eval'):
    evaluation.check_config(config, family)
  schedule = phases_lib.PhaseSchedule(base.phases(family), mesh.size,
                                      gradients.microbatches(config))
  num_steps = config.train.num_steps  # where to stop; the phases fix the shapes until then
  if num_steps > schedule.num_steps:
    raise config_lib.ConfigError(
        f'config.train.num_steps={num_steps} exceeds the {schedule.num_steps} steps of the '
        f"family's phases {[p.name for p in schedule.phases]}; lower it or lengthen the phases.")
  checkpoint_dir = os.path.join(workdir, 'checkpoints')
  state, start_step = _restore(checkpoint_dir, family, config, families.init_state(family, mesh),
                               schedule)
  if start_step == 0 and base.has(family, 'warm_start'):
    state = family.warm_start(state)
  if start_step >= num_steps:
    logging.info('Checkpoint step %d >= num_steps %d: nothing to train.', start_step, num_steps)
    return state
  first_phase = schedule.phase_index(start_step)
  split = config.data.train_split
  source = data.open_source(config.data, split, schedule.phases[first_phase].image_size)
  evaluate = (periodic.PeriodicEvaluation(config, family, workdir, None, mesh)
              if config.get('eval') and config.eval.every_steps else None)

  if jax.process_count() > 1:  # every process has checked the workdir before any writes to it
    multihost_utils.sync_global_devices('jaxgan: workdir checked')
  is_chief = jax.process_index() == 0
  if is_chief:
    os.makedirs(workdir, exist_ok=True)
    config_lib.write_config_json(config, os.path.join(workdir, 'config.json'))
  writer = writers.create_default_writer(workdir, just_logging=not is_chief)
  if evaluate:
    evaluate.writer = writer
  checkpointer = checkpoints.Checkpointer(checkpoint_dir, family.fingerprint(),
                                          config.train.keep_checkpoints)
  train_key = replicate(families.root_keys(config.seed)['train'], mesh)
  progress = progress_lib.Progress(f'train steps {start_step + 1}..{num_steps}',
                                   num_steps - start_step, unit='steps', interval_s=30.0)
  train_cfg = config.train
  multiphase = len(schedule.phases) > 1
  step = start_step
  wall_start, last_means = time.perf_counter(), {}
  stop = preemption.StopOnSignal().install()  # until the end of the outer finally
  try:
    for phase_index in range(first_phase, schedule.phase_index(num_steps - 1) + 1):
      phase = schedule.phases[phase_index]
      if phase_index != first_phase:
        source = data.open_source(config.data, split, phase.image_size)
      names = metric_names(family, state, phase)
      sums = zero_metric_sums(names, mesh)
      train_step = compile_train_step(family, state, sums, train_key, phase, mesh)
      write_samples = SampleWriter(family, config, workdir, writer, mesh, source)
      batches = data.device_batches(source, phase.batch_size, config.seed,
                                    schedule.position(step), data_sharding(mesh),
                                    config.data.prefetch)
      timer_step, timer_start, phase_start = step, time.perf_counter(), step
      try:
        for step in range(step + 1, min(schedule.end(phase_index), num_steps) + 1):
          state, sums = train_step(state, sums, next(batches), train_key)
          progress.update(step - start_step)
          is_last = step == num_steps
          stop_now = stop.requested(step)
          log_now = step % train_cfg.log_every == 0 or is_last
          checkpoint_now = (step % train_cfg.checkpoint_every == 0 or is_last
                            or step == schedule.end(phase_index) or stop_now)
          if step == phase_start + 1:
            jax.block_until_ready(state)
            logging.info('Step %d done in %.1f s.', step, time.perf_counter() - timer_start)
            timer_step, timer_start = step, time.perf_counter()  # steps/s without compilation
          if log_now or checkpoint_now:
            host_sums = jax.device_get(sums)
            _check_finite(host_sums, checkpointer)
            if log_now:
              now = time.perf_counter()
              steps_per_sec = ((step - timer_step) / (now - timer_start)
                               if step > timer_step else None)
              last_means = _log(writer, host_sums, step, num_steps, steps_per_sec)
              sums = zero_metric_sums(names, mesh)
              timer_step, timer_start = step, time.perf_counter()
            if checkpoint_now:
              checkpointer.save(step, state, data_position=schedule.position(step),
                                phase=schedule.phase_index(step))
          phase_end = multiphase and step == schedule.end(phase_index)
          if step % train_cfg.sample_every == 0 or is_last or phase_end:
            write_samples(state, step)
          if evaluate and (step % evaluate.every_steps == 0 or is_last or phase_end):
            eval_start = time.perf_counter()
            evaluate(state, step, data_position=schedule.position(step),
                     phase=schedule.phase_index(step),
                     trained_phase=_phase_record(phase_index, phase) if multiphase else None)
            timer_start += time.perf_counter() - eval_start  # keep evaluation out of steps/s
          if stop_now and not is_last:
            raise preemption.TrainingStopped(
                step, os.path.abspath(os.path.join(checkpoint_dir, str(step))), stop.signum)
      finally:
        batches.close()
  finally:
    try:
      checkpointer.wait_until_finished()
      checkpointer.close()
      if evaluate:
        evaluate.close()
      writer.flush()
    finally:
      stop.restore()
  if is_chief:
    _log_summary(workdir, writer, evaluate, start_step, num_steps,
                 time.perf_counter() - wall_start, last_means)
  return state
