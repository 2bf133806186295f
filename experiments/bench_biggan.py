"""Train-step time and model FLOP utilization (MFU) of a GAN config on one device, at the largest
batch that fits: the GPU row of the README's "Scaling out" section (issue 28).

  python experiments/bench_biggan.py [--config=configs/biggan.py:128] [--batches=256,512,1024,2048]
      [--steps=10] [--out=FILE.json] [--smoke]

The trainer's own step (jaxgan/training/trainer.py: the family's train_step with on-device
metric sums, state donated) is compiled ahead of time at the smallest batch; XLA's memory
analysis of it (arguments + outputs + temporaries - aliased) predicts, growing the temporaries
linearly with the batch, the largest candidate batch that fits the device, which is compiled
next (the next smaller one while its own analysis says it does not fit). That batch is run `--steps` times
after one warm-up step, timed with a device sync, median of `--repeats` runs. FLOPs per step come from XLA's cost analysis of the compiled step (what the
compiler counts: convolutions, matmuls and elementwise work, forward and backward, D and G);
MFU = FLOPs per step / step time / the device's peak, against the dense bf16 tensor-core peak
(989 TFLOP/s for an H100/H200 SXM, NVIDIA's datasheet) and, for float32 compute, the TF32 peak
(495 TFLOP/s), the precision JAX's default uses for float32 convolutions on these GPUs.
--smoke shrinks everything to a CPU check of the script (the tiny preset, batch 8, 2 steps).
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jaxgan import platform  # pylint: disable=g-import-not-at-top

PEAKS_TFLOPS = {'bfloat16': 989.0, 'tf32': 495.0}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
  parser.add_argument('--config', default='configs/biggan.py:128')
  parser.add_argument('--batches', default='256,512,1024,2048',
                      help='candidate images per D update (the paper: 2,048)')
  parser.add_argument('--steps', type=int, default=10)
  parser.add_argument('--repeats', type=int, default=3)
  parser.add_argument('--out', default='')
  parser.add_argument('--smoke', action='store_true')
  args = parser.parse_args()
  if args.smoke:
    args.config, args.batches, args.steps, args.repeats = 'configs/biggan.py:tiny', '8', 2, 1
  platform.use_default_xla_flags()
  import jax  # pylint: disable=g-import-not-at-top
  from jaxgan import config_lib  # pylint: disable=g-import-not-at-top
  from jaxgan import families  # pylint: disable=g-import-not-at-top
  from jaxgan.families import base  # pylint: disable=g-import-not-at-top
  from jaxgan.training import mesh as mesh_lib  # pylint: disable=g-import-not-at-top
  from jaxgan.training import trainer  # pylint: disable=g-import-not-at-top

  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  device = jax.devices()[0]
  mesh = mesh_lib.make_mesh([device])
  stats = device.memory_stats() or {}
  capacity = stats.get('bytes_limit')
  report = {'config': args.config, 'device': device.device_kind, 'backend': jax.default_backend(),
            'jax': jax.__version__, 'memory_limit_bytes': capacity, 'tried': []}
  initial = {}

  def compile_for(batch_size):
    config = config_lib.load_config(os.path.join(repo, args.config))
    with config.unlocked():  # a step reads n_critic batches: one per D update
      config.train.batch_size = batch_size * config.gan.n_critic
    family = families.make(config)
    phase = base.phases(family)[0]
    if not initial:  # the state does not depend on the batch size: initialized (compiled) once
      initial['state'] = jax.device_get(families.init_state(family, mesh))
    state = mesh_lib.replicate(initial['state'], mesh)
    key = mesh_lib.replicate(families.root_keys(0)['train'], mesh)
    sums = trainer.zero_metric_sums(trainer.metric_names(family, state, phase), mesh)
    start = time.perf_counter()
    compiled = trainer.compile_train_step(family, state, sums, key, phase, mesh)
    memory = compiled.memory_analysis()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    entry = {'batch': batch_size, 'n_critic': config.gan.n_critic, 'compile_s': time.perf_counter() - start,
             'bytes_needed': int(memory.argument_size_in_bytes + memory.output_size_in_bytes
                                 + memory.temp_size_in_bytes - memory.alias_size_in_bytes),
             'temp_bytes': int(memory.temp_size_in_bytes), 'flops_per_step': cost.get('flops'),
             'compute_dtype': str(config.model.get('compute_dtype', 'float32'))}
    report['tried'].append(entry)
    print(json.dumps(entry), flush=True)
    batch = jax.tree.map(lambda s: jax.device_put(jax.numpy.zeros(s.shape, s.dtype), s.sharding),
                         trainer.batch_spec(family, phase, mesh))
    return entry, compiled, (state, sums, batch, key)

  # A probe at the smallest batch; memory grows about linearly with the batch, so the largest
  # candidate predicted to fit is compiled next (and halved while XLA says it does not fit).
  candidates = sorted(int(b) for b in args.batches.split(','))
  probe, compiled, arguments = compile_for(candidates[0])
  if capacity and len(candidates) > 1:
    fixed = probe['bytes_needed'] - probe['temp_bytes']
    per_image = probe['temp_bytes'] / candidates[0]
    fitting = [b for b in candidates if fixed + per_image * b <= 0.9 * capacity]
    for batch_size in reversed(fitting[1:]):
      del compiled, arguments
      entry, compiled, arguments = compile_for(batch_size)
      if entry['bytes_needed'] <= 0.95 * capacity:
        break
    else:
      del compiled, arguments
      entry, compiled, arguments = compile_for(candidates[0])
  entry = report['tried'][-1]
  state, sums, batch, key = arguments
  state, sums = compiled(state, sums, batch, key)  # warm-up
  jax.block_until_ready(state)
  times = []
  for _ in range(args.repeats):
    start = time.perf_counter()
    for _ in range(args.steps):
      state, sums = compiled(state, sums, batch, key)
    jax.block_until_ready((state, sums))
    times.append((time.perf_counter() - start) / args.steps)
  step_s = statistics.median(times)
  entry.update(step_ms=1e3 * step_s,
               real_images_per_s=entry['batch'] * entry['n_critic'] / step_s,
               step_ms_all=[1e3 * t for t in times])
  if entry['flops_per_step']:
    achieved = entry['flops_per_step'] / step_s / 1e12
    entry['tflops_per_s'] = achieved
    entry['mfu'] = {name: achieved / peak for name, peak in PEAKS_TFLOPS.items()}
  print(json.dumps(entry), flush=True)
  report['result'] = entry
  if args.out:
    with open(args.out, 'w') as f:
      json.dump(report, f, indent=1)


if __name__ == '__main__':
  main()
