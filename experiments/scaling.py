"""Per-device memory of the train state and of one compiled train step on a simulated mesh, for
mesh layouts of config.mesh (replicated, fsdp=2/4/8, model=2 on 8 devices; data only vs data x
fsdp on 64 devices): compile only, nothing trained. The table of README's "Scaling out".

Every row runs in its own subprocess with --xla_force_host_platform_device_count=N (the flag is
read when jax starts; one compile per process keeps the memory of a big config's compile
apart). For every config and layout the state's shardings come from the rules in
jaxgan/training/mesh.py, its per-device bytes from each leaf's shard shape, and the step's
temporaries from XLA's memory analysis of the trainer's step compiled with jax.jit(...).lower(
ShapeDtypeStructs).compile(): XLA:CPU's buffer assignment, a guide to a TPU's or GPU's, not
their figure. A config is named as on the command line, `name[:preset]`.

Rows are kept in experiments/results/scaling.json (rewritten after every row, so a killed run
keeps what it finished) and the markdown table is made from all of them: a run for one config
replaces that config's rows and leaves the others' as they are.

  python experiments/scaling.py                          # every config: 8 devices + pod rows
  python experiments/scaling.py --configs=biggan:128 --pod_config=biggan:128   # one config
  python experiments/scaling.py --configs=sagan:cifar10 --pod_config=''        # 8 devices only
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

from experiments import common  # pylint: disable=g-import-not-at-top

DEFAULT_CONFIGS = 'sagan:cifar10,hinge_resnet:cifar10,biggan:128'
# Layouts as config.mesh overrides; data=-1 (the default) takes the devices left.
LAYOUTS = ('', 'fsdp=2', 'fsdp=4', 'fsdp=8', 'model=2')
POD_LAYOUTS = ('', 'fsdp=8', 'fsdp=16')
RESULTS = os.path.join(REPO, 'experiments', 'results', 'scaling')


def parse_axes(layout: str) -> dict:
  """'fsdp=8,model=2' -> {'fsdp': 8, 'model': 2}; '' -> {} (all devices on data)."""
  return {axis: int(size) for axis, size in (part.split('=') for part in layout.split(',') if part)}


def measure(spec: str, axes: dict, images_per_update: int) -> dict:
  """Per-device state bytes and step temporaries of config `spec` on the mesh `axes` (in the
  worker process, whose jax sees the simulated devices). images_per_update: 0 for the config's
  batch, else the images of one D update (train.batch_size = that x gan.n_critic)."""
  import jax  # pylint: disable=g-import-not-at-top
  from jaxgan import config_lib  # pylint: disable=g-import-not-at-top
  from jaxgan import families  # pylint: disable=g-import-not-at-top
  from jaxgan.training import mesh as mesh_lib  # pylint: disable=g-import-not-at-top
  from jaxgan.training import trainer  # pylint: disable=g-import-not-at-top
  name, _, preset = spec.partition(':')
  config = config_lib.load_config(os.path.join(REPO, 'configs', f'{name}.py')
                                  + (f':{preset}' if preset else ''))
  n_critic = config.gan.get('n_critic', 1) if 'gan' in config else 1
  if images_per_update:
    config.train.batch_size = images_per_update * n_critic
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
  return {'config': spec, 'batch_size': config.train.batch_size, 'n_critic': n_critic,
          'devices': mesh.size, 'mesh': dict(mesh.shape), 'parameters': parameters,
          'state_bytes': whole, 'state_bytes_per_device': per_device,
          'step_temp_bytes_per_device': getattr(analysis, 'temp_size_in_bytes', None),
          'compile_s': round(time.perf_counter() - start, 1)}


def layout_label(mesh: dict) -> str:
  """{'data': 8, 'fsdp': 1, 'model': 1} -> 'data=8 (replicated)'; 'data=4 x fsdp=2' etc."""
  used = [f'{axis}={size}' for axis, size in mesh.items() if size > 1]
  return ' x '.join(used) + (' (replicated)' if list(mesh.values())[1:] == [1, 1] else '')


def run_row(spec: str, devices: int, layout: str, images_per_update: int,
            timeout: float) -> dict:
  """One row, measured in a fresh process with `devices` simulated devices; a failed or killed
  worker gives a row that says so (its last line of stderr) instead of stopping the sweep."""
  env = dict(os.environ, XLA_FLAGS=' '.join([os.environ.get('XLA_FLAGS', ''),
                                             f'--xla_force_host_platform_device_count={devices}']),
             JAX_PLATFORMS='cpu')
  command = [sys.executable, os.path.abspath(__file__), '--worker', f'--configs={spec}',
             f'--layout={layout}', f'--images_per_update={images_per_update}']
  try:
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout,
                            check=False)
  except subprocess.TimeoutExpired:
    return {'error': f'not compiled within {timeout:.0f} s'}
  if result.returncode:
    lines = result.stderr.strip().splitlines() or [f'exit status {result.returncode}']
    return {'error': f'worker failed (exit status {result.returncode}): {lines[-1][:300]}'}
  return json.loads([line for line in result.stdout.splitlines() if line.startswith('{')][-1])


def _mib(value) -> str:
  return '?' if value is None else f'{value / 2**20:,.1f}'


def _batch(row: dict) -> str:
  n_critic = row.get('n_critic', 1)
  if n_critic == 1:
    return f'{row["batch_size"]:,}'
  return f'{row["batch_size"]:,} ({n_critic} x {row["batch_size"] // n_critic:,})'


def table(rows: list[dict]) -> str:
  lines = ['| config | parameters (G + D) | batch (D updates x images) | devices | layout '
           '| state per device (MiB) | of the whole state | step temporaries per device (MiB) '
           '| compile (s) |',
           '|---|---:|---:|---:|---|---:|---:|---:|---:|']
  for row in rows:
    if 'error' in row:
      lines.append(f'| {row["config"]} | | | {row["devices"]} | {row["layout"]} | '
                   f'({row["error"]}) | | | |')
      continue
    lines.append(
        f'| {row["config"]} | {row["parameters"] / 1e6:.1f} M | {_batch(row)} | '
        f'{row["devices"]} | {layout_label(row["mesh"])} | {_mib(row["state_bytes_per_device"])} '
        f'| {row["state_bytes_per_device"] / row["state_bytes"]:.3f} | '
        f'{_mib(row["step_temp_bytes_per_device"])} | {row["compile_s"]} |')
  return '\n'.join(lines)


def _order(row: dict) -> tuple:
  """Table order: configs as in DEFAULT_CONFIGS (others after), layouts as in the sweep."""
  configs, layouts = DEFAULT_CONFIGS.split(','), (*LAYOUTS, *POD_LAYOUTS)
  return (configs.index(row['config']) if row['config'] in configs else len(configs),
          row['config'], layouts.index(row['layout']) if row['layout'] in layouts else
          len(layouts), row['layout'])


def write_markdown(results: dict, path: str) -> str:
  rows = sorted(results.values(), key=_order)
  sections = ['# Per-device memory by mesh layout (compile only)',
              '`python experiments/scaling.py` (rows of one config: `--configs=NAME '
              '--pod_config=NAME`); rows from experiments/results/scaling.json.',
              'Simulated CPU devices (--xla_force_host_platform_device_count); the state is '
              'parameters, EMA and Adam moments of G and D, split by the sharding rules of '
              'jaxgan/training/mesh.py (config.mesh.min_sharded_bytes = 1 MiB: smaller leaves '
              "replicated); step temporaries are XLA:CPU's memory analysis of the compiled "
              'train step (temp_size_in_bytes). Batch: images per step (a step reads one batch '
              'per D update). Compile seconds were measured on a shared 2-core machine.']
  for devices in sorted({row['devices'] for row in rows}):
    group = [row for row in rows if row['devices'] == devices]
    title = ("each config's own batch" if devices == 8 else
             'the pod rows: ' + ', '.join(sorted({_batch(row) for row in group
                                                   if 'batch_size' in row})) + ' images per step')
    sections += [f'## {devices} devices, {title}', table(group)]
  text = '\n\n'.join(sections) + '\n'
  with open(path, 'w') as f:
    f.write(text)
  return text


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
  parser.add_argument('--configs', default=DEFAULT_CONFIGS,
                      help='comma-separated name[:preset] of configs/ at their real sizes')
  parser.add_argument('--layouts', default=';'.join(LAYOUTS),
                      help="8-device layouts, ';'-separated config.mesh overrides")
  parser.add_argument('--pod_config', default='biggan:128',
                      help="the config of the 64-device rows ('' for none)")
  parser.add_argument('--pod_layouts', default=';'.join(POD_LAYOUTS))
  parser.add_argument('--pod_images_per_update', type=int, default=2048,
                      help='images per D update of the pod rows (BigGAN: 2,048, the paper\'s)')
  parser.add_argument('--row_timeout', type=float, default=3600)
  parser.add_argument('--out', default=RESULTS, help='path without .json / .md')
  parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
  parser.add_argument('--layout', default='', help=argparse.SUPPRESS)
  parser.add_argument('--images_per_update', type=int, default=0, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.worker:
    row = measure(args.configs, parse_axes(args.layout), args.images_per_update)
    print(json.dumps(row), flush=True)
    return
  plan = [(spec, 8, layout, 0) for spec in args.configs.split(',') if spec
          for layout in args.layouts.split(';')]
  plan += [(args.pod_config, 64, layout, args.pod_images_per_update)
           for layout in args.pod_layouts.split(';') if args.pod_config]
  path = args.out + '.json'
  results = common.load_results(path)
  done = {(spec, devices) for spec, devices, _, _ in plan}
  results = {key: row for key, row in results.items()  # a config's rerun replaces its rows
             if (row['config'], row['devices']) not in done}
  for spec, devices, layout, images in plan:
    print(f'{spec} on {devices} devices, layout {layout or "data only"} ...', flush=True)
    row = run_row(spec, devices, layout, images, args.row_timeout)
    row.update(config=spec, devices=devices, layout=layout)
    results[f'{spec}|{devices}|{layout}'] = row
    common.save_results(results, path)
    print(write_markdown(results, args.out + '.md').splitlines()[-1], flush=True)
  print(write_markdown(results, args.out + '.md'))


if __name__ == '__main__':
  main()
