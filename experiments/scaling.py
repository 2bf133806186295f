"""Per-device memory of the train state and of one compiled train step on a simulated mesh, for
mesh layouts of config.mesh (replicated, fsdp=2/4/8, model=2): compile only, nothing trained.
The table of README's "Scaling out".

Each device count runs in its own subprocess with --xla_force_host_platform_device_count=N (the
flag is read when jax starts). For every config and layout the state's shardings come from the
rules in jaxgan/training/mesh.py, its per-device bytes from each leaf's shard shape, and the
step's temporaries from XLA's memory analysis of the step compiled with jax.jit(...).lower(
ShapeDtypeStructs).compile(): XLA:CPU's buffer assignment, a guide to a TPU's or GPU's, not
their figure. A config is named as on the command line, `name[:preset]`; a name whose file does
not exist (e.g. biggan:128 before configs/biggan.py) is reported as missing.

  python experiments/scaling.py                      # 8 devices + the 64-device pod rows
  python experiments/scaling.py --configs=sagan:cifar10 --pod_config=''  # 8 devices only
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

DEFAULT_CONFIGS = 'sagan:cifar10,hinge_resnet:cifar10,biggan:128'
# (label, {axis: size}) on 8 devices; data=-1 takes the devices left.
LAYOUTS = (('replicated (data=8)', {}), ('fsdp=2', {'fsdp': 2}), ('fsdp=4', {'fsdp': 4}),
           ('fsdp=8', {'fsdp': 8}), ('model=2', {'model': 2}))
POD_LAYOUTS = (('data=64', {}), ('data=8 x fsdp=8', {'fsdp': 8}))


def measure(spec: str, axes: dict, batch_size: int | None) -> dict:
  """Per-device state bytes and step temporaries of config `spec` on the mesh `axes` (in the
  worker process, whose jax sees the simulated devices)."""
  import jax  # pylint: disable=g-import-not-at-top
  from jaxgan import config_lib  # pylint: disable=g-import-not-at-top
  from jaxgan import families  # pylint: disable=g-import-not-at-top
  from jaxgan.training import mesh as mesh_lib  # pylint: disable=g-import-not-at-top
  from jaxgan.training import trainer  # pylint: disable=g-import-not-at-top
  name, _, preset = spec.partition(':')
  config = config_lib.load_config(os.path.join(REPO, 'configs', f'{name}.py')
                                  + (f':{preset}' if preset else ''))
  if batch_size:
    config.train.batch_size = batch_size
  for axis, size in axes.items():
    config.mesh[axis] = size
  config_lib.validate(config, jax.device_count())
  mesh = mesh_lib.mesh_from_config(config)
  family = families.make(config)
  phase = families.base.phases(family)[0]
  shapes = jax.eval_shape(family.init, families.root_keys(0)['init'],
                          family.example_batch(phase))
  frozen = families.base.frozen_params(family)
  shardings = families.state_shardings(family, mesh, frozen)
  state = jax.tree.map(
      lambda s, sharding: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding),
      shapes.replace(frozen=jax.eval_shape(lambda: frozen)), shardings)
  whole = sum(s.size * s.dtype.itemsize for s in jax.tree.leaves(state))
  per_device = sum(math.prod(s.sharding.shard_shape(s.shape)) * s.dtype.itemsize
                   for s in jax.tree.leaves(state))
  sums = trainer.zero_metric_sums(trainer.metric_names(family, state, phase), mesh)
  key = mesh_lib.replicate(families.root_keys(0)['train'], mesh)
  start = time.perf_counter()
  compiled = trainer.jit_train_step(family, mesh, shardings).lower(
      state, sums, trainer.batch_spec(family, phase, mesh), key).compile()
  analysis = compiled.memory_analysis()
  parameters = sum(s.size for s in jax.tree.leaves(
      [network.params for network in shapes.networks.values()]))
  return {'config': spec, 'batch_size': config.train.batch_size, 'devices': mesh.size,
          'mesh': dict(mesh.shape), 'parameters': parameters, 'state_bytes': whole,
          'state_bytes_per_device': per_device,
          'step_temp_bytes_per_device': getattr(analysis, 'temp_size_in_bytes', None),
          'compile_s': round(time.perf_counter() - start, 1)}


def worker(args) -> None:
  """Prints one JSON line per (config, layout)."""
  layouts = POD_LAYOUTS if args.devices == 64 else LAYOUTS
  for spec in args.configs.split(','):
    name = spec.partition(':')[0]
    if not os.path.exists(os.path.join(REPO, 'configs', f'{name}.py')):
      print(json.dumps({'config': spec, 'missing': True}), flush=True)
      continue
    for label, axes in layouts:
      row = measure(spec, axes, args.batch_size or None)
      print(json.dumps(dict(row, layout=label)), flush=True)


def run_worker(devices: int, configs: str, batch_size: int) -> list[dict]:
  env = dict(os.environ, XLA_FLAGS=' '.join([os.environ.get('XLA_FLAGS', ''),
                                             f'--xla_force_host_platform_device_count={devices}']),
             JAX_PLATFORMS='cpu')
  result = subprocess.run(
      [sys.executable, os.path.abspath(__file__), '--worker', f'--devices={devices}',
       f'--configs={configs}', f'--batch_size={batch_size}'],
      env=env, capture_output=True, text=True, check=False)
  if result.returncode:
    raise SystemExit(f'The {devices}-device worker failed:\n{result.stderr[-3000:]}')
  return [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{')]


def _mib(value) -> str:
  return '?' if value is None else f'{value / 2**20:,.1f}'


def table(rows: list[dict]) -> str:
  lines = ['| config | parameters (G + D) | batch | devices | layout | state per device (MiB) '
           '| of the whole state | step temporaries per device (MiB) | compile (s) |',
           '|---|---:|---:|---:|---|---:|---:|---:|---:|']
  for row in rows:
    if row.get('missing'):
      lines.append(f'| {row["config"]} | (config file not present) | | | | | | | |')
      continue
    lines.append(
        f'| {row["config"]} | {row["parameters"] / 1e6:.1f} M | {row["batch_size"]} | '
        f'{row["devices"]} | {row["layout"]} | {_mib(row["state_bytes_per_device"])} | '
        f'{row["state_bytes_per_device"] / row["state_bytes"]:.3f} | '
        f'{_mib(row["step_temp_bytes_per_device"])} | {row["compile_s"]} |')
  return '\n'.join(lines)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
  parser.add_argument('--configs', default=DEFAULT_CONFIGS,
                      help='comma-separated name[:preset] of configs/ at their real sizes')
  parser.add_argument('--batch_size', type=int, default=0, help='0: the config\'s')
  parser.add_argument('--pod_config', default='biggan:128',
                      help="the config of the 64-device rows ('' for none); falls back to the "
                           'first of --configs when its file does not exist')
  parser.add_argument('--pod_batch_size', type=int, default=2048)
  parser.add_argument('--out', default=os.path.join(REPO, 'experiments', 'results',
                                                    'scaling.md'))
  parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
  parser.add_argument('--devices', type=int, default=8, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.worker:
    worker(args)
    return
  rows = run_worker(8, args.configs, args.batch_size)
  pod = args.pod_config
  if pod and not os.path.exists(os.path.join(REPO, 'configs', f'{pod.partition(":")[0]}.py')):
    pod = args.configs.split(',')[0]
  pod_rows = run_worker(64, pod, args.pod_batch_size) if pod else []
  text = '\n\n'.join([
      '# Per-device memory by mesh layout (compile only)',
      f'`python experiments/scaling.py {" ".join(sys.argv[1:])}`'.replace(' `', '`'),
      'Simulated CPU devices (--xla_force_host_platform_device_count); the state is parameters, '
      'EMA and Adam moments of G and D, split by the sharding rules of jaxgan/training/mesh.py '
      '(config.mesh.min_sharded_bytes = 1 MiB: smaller leaves replicated); step temporaries are '
      "XLA:CPU's memory analysis of the compiled train step (temp_size_in_bytes).",
      '## 8 devices, each config\'s own batch size', table(rows),
      f'## 64 devices, batch {args.pod_batch_size}', table(pod_rows) if pod_rows else '(none)'])
  os.makedirs(os.path.dirname(args.out), exist_ok=True)
  with open(args.out, 'w') as f:
    f.write(text + '\n')
  print(text)


if __name__ == '__main__':
  main()
