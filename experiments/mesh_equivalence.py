"""Every mesh layout of 8 simulated CPU devices trains like one device (issue 28's first item):
the default DCGAN (configs/dcgan.py, full width, mnist_5k) and the ResNet GAN
(configs/hinge_resnet.py) on data=8, data=4 x fsdp=2 and data=2 x model=4 against one device,
after 1 step and after 20: every step's D and G losses, and every leaf of the state
(parameters, EMA, Adam moments, batch statistics).

Each run is a subprocess with --xla_force_host_platform_device_count=8 running the trainer's own
compiled step (jaxgan/training/trainer.py: run_steps, the family's train_step under the
trainer's jit with the mesh's shardings, batches from the trainer's data path). Every leaf the
rules can split is split (config.mesh.min_sharded_bytes = 0; the default 1 MiB leaves these
models' small leaves replicated).

Why two horizons and a control. One step compares the step itself: another layout sums in
another order (XLA's reductions over shards; XLA:CPU reduces a device's rows sequentially, so a
bias gradient summed over 2 x 64 x 14 x 14 terms that nearly cancel carries a relative rounding
error near 1e-4), so it agrees to float rounding. Over many steps a GAN trained with Adam
amplifies rounding: Adam divides each gradient entry by its own root mean square, so an entry
whose gradient is at rounding level moves by about +lr on one run and -lr on another, and the
next gradients of both networks follow. How far that carries in 20 steps is measured by a
control that changes nothing but rounding: the one-device run with every initial parameter
moved by one ulp. A sharding bug (a statistic or gradient over one shard instead of the batch)
shows at step 1, as O(1e-2) and more.

Results: experiments/results/mesh_equivalence.{json,md}, rewritten after every run (a rerun
skips finished configs; --fresh recomputes).

  python experiments/mesh_equivalence.py [--configs=dcgan,hinge_resnet] [--steps=20]
"""
import argparse
import os
import pickle
import subprocess
import sys
import tempfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from experiments import common  # pylint: disable=g-import-not-at-top

CONTROL = 'control: one device, parameters moved 1 ulp'
# (label, config.mesh overrides, extra environment); 'one device' is the reference.
LAYOUTS = (('one device', None, {}),
           (CONTROL, None, {}),
           ('data=8', {'data': 8}, {}),
           ('data=4 x fsdp=2', {'data': 4, 'fsdp': 2}, {}),
           ('data=2 x model=4', {'data': 2, 'model': 4}, {}))
LOSSES = ('discriminator_loss', 'generator_loss')
# After one step: rounding only (float32 sums of ~1e4 terms that nearly cancel: about 1e-4).
ONE_STEP_RTOL = 1e-3
# After `steps` steps: within this multiple of the control's difference.
CONTROL_FACTOR = 10
RESULTS = os.path.join(REPO, 'experiments', 'results', 'mesh_equivalence')


def _host(state) -> dict:
  import jax  # pylint: disable=g-import-not-at-top
  return {jax.tree_util.keystr(path): np.asarray(x) for path, x in
          jax.tree_util.tree_leaves_with_path(jax.device_get(state))}


def _one_ulp(state):
  """The control's start: every initial parameter moved to the next float32 towards +inf."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  networks = {name: network.replace(params=jax.tree.map(
      lambda x: jnp.nextafter(x, jnp.inf) if jnp.issubdtype(x.dtype, jnp.floating) else x,
      network.params)) for name, network in state.networks.items()}
  return state.replace(networks=networks)


def worker(name: str, layout: str, steps: int, out: str) -> None:
  """Trains configs/<name>.py 1 and `steps` steps on `layout` and pickles histories and states."""
  import jax  # pylint: disable=g-import-not-at-top
  from jaxgan import config_lib  # pylint: disable=g-import-not-at-top
  from jaxgan.training import trainer  # pylint: disable=g-import-not-at-top
  config = config_lib.load_config(os.path.join(REPO, 'configs', f'{name}.py'))
  config.mesh.min_sharded_bytes = 0
  axes = {label: axes for label, axes, _ in LAYOUTS}[layout]
  devices = jax.devices()[:1] if axes is None else jax.devices()
  for axis, size in (axes or {}).items():
    config.mesh[axis] = size
  config_lib.validate(config, len(devices))
  transform = _one_ulp if layout == CONTROL else None
  runs = {}
  for num_steps in (1, steps):
    state, history, _ = trainer.run_steps(config, num_steps, devices, transform)
    runs[num_steps] = {'history': history, 'leaves': _host(state)}
  split = sum(any(s is not None for s in x.sharding.spec) for x in jax.tree.leaves(state))
  with open(out, 'wb') as f:
    pickle.dump({'runs': runs, 'split_leaves': split, 'batch_size': config.train.batch_size}, f)


def run(name: str, layout: str, steps: int, directory: str) -> dict:
  out = os.path.join(directory, f'{name}_{len(os.listdir(directory))}.pkl')
  environment = {label: env for label, _, env in LAYOUTS}[layout]
  env = dict(os.environ, JAX_PLATFORMS='cpu', **environment, XLA_FLAGS=' '.join(
      [os.environ.get('XLA_FLAGS', ''), '--xla_force_host_platform_device_count=8']))
  print(f'{name}: {layout} ...', flush=True)
  subprocess.run([sys.executable, os.path.abspath(__file__), '--worker', f'--configs={name}',
                  f'--layout={layout}', f'--steps={steps}', f'--pickle={out}'],
                 env=env, check=True)
  with open(out, 'rb') as f:
    return pickle.load(f)


def group(path: str) -> str:
  """The part of the train state a leaf path belongs to."""
  for field, name in (('.opt_state', 'Adam moments'), ('.ema_params', 'EMA'),
                      ('.params', 'parameters'), ('.collections', 'batch statistics')):
    if field in path:
      return name
  return 'other'


def difference(reference: dict, other: dict) -> dict:
  """Largest relative loss difference over the steps; per part of the state, the largest
  absolute difference of one number and the largest relative L2 difference of one leaf
  (||a - b|| / ||a||), with the leaf of the largest absolute difference."""
  loss_rel = max(abs(b[k] - a[k]) / max(abs(a[k]), 1e-6)
                 for a, b in zip(reference['history'], other['history']) for k in LOSSES)
  parts, worst = {}, {}
  for path, a in reference['leaves'].items():
    b = other['leaves'][path]
    if not a.size or not np.issubdtype(a.dtype, np.floating):
      assert np.array_equal(a, b), path  # counters, keys: equal on every layout
      continue
    a, b = a.astype(np.float64), b.astype(np.float64)
    difference = float(np.max(np.abs(a - b)))
    relative = float(np.linalg.norm(a - b) / max(np.linalg.norm(a), 1e-30))
    part = parts.setdefault(group(path), {'max_abs': 0.0, 'max_leaf_relative_l2': 0.0})
    part['max_abs'] = max(part['max_abs'], difference)
    part['max_leaf_relative_l2'] = max(part['max_leaf_relative_l2'], relative)
    if difference > worst.get('abs', -1):
      worst = {'leaf': path, 'abs': difference, 'leaf_max_abs': float(np.max(np.abs(a))),
               'fraction_over_1e-5': float(np.mean(np.abs(a - b) > 1e-5))}
  state_rel = max(part['max_leaf_relative_l2'] for part in parts.values())
  return {'max_loss_relative_difference': loss_rel, 'state': parts, 'worst_leaf': worst,
          'max_state_abs_difference': max(part['max_abs'] for part in parts.values()),
          'max_leaf_relative_l2_difference': state_rel}


def compare(reference: dict, other: dict, control: dict | None, steps: int) -> dict:
  """Differences after 1 and `steps` steps and whether each is within its tolerance."""
  row = {'split_leaves': other['split_leaves'], 'batch_size': reference['batch_size']}
  for num_steps in (1, steps):
    found = difference(reference['runs'][num_steps], other['runs'][num_steps])
    if num_steps == 1:
      bound = ONE_STEP_RTOL
    elif control:
      floor = difference(reference['runs'][steps], control['runs'][steps])
      bound = CONTROL_FACTOR * max(floor['max_loss_relative_difference'],
                                   floor['max_leaf_relative_l2_difference'])
    else:  # the control itself
      bound = None
    found['tolerance'] = bound
    found['within_tolerance'] = bound is None or (
        found['max_loss_relative_difference'] <= bound
        and found['max_leaf_relative_l2_difference'] <= bound)
    row[f'after_{num_steps}'] = found
  return row


def markdown(results: dict, steps: int) -> str:
  header = [
      '# Mesh layouts of 8 simulated CPU devices against one device',
      f'`python experiments/mesh_equivalence.py`: the trainer\'s compiled step run 1 and {steps} '
      'times from the same initial state and batches; every leaf the sharding rules can split is '
      'split (min_sharded_bytes = 0). Per run: the largest relative difference of any step\'s D '
      'or G loss, the largest relative L2 difference ||a - b|| / ||a|| of any leaf of the state '
      '(parameters, EMA, Adam moments, batch statistics) and the largest difference of a single '
      'number. Tolerance (losses and leaves): after 1 step relative '
      f'{ONE_STEP_RTOL:g}; after {steps} steps {CONTROL_FACTOR} x the control\'s difference, the '
      'one-device run with every initial parameter moved by one ulp (rounding only: Adam turns '
      'gradient entries at rounding level into +-lr moves, and a GAN carries them on; see the '
      'docstring of experiments/mesh_equivalence.py). The JSON has each part of the state '
      'and the leaf of the largest single difference.']
  lines = ['| config | batch | layout | leaves split | steps | max loss difference (relative) '
           '| max leaf difference (relative L2) | max single difference | tolerance '
           '| within |', '|---|---:|---|---:|---:|---:|---:|---:|---:|---|']
  for key, row in results.items():
    name, layout = key.split('|')
    for num_steps in (1, steps):
      found = row[f'after_{num_steps}']
      lines.append(f'| {name} | {row["batch_size"]} | {layout} | {row["split_leaves"]} | '
                   f'{num_steps} | {found["max_loss_relative_difference"]:.1e} | '
                   f'{found["max_leaf_relative_l2_difference"]:.1e} | '
                   f'{found["max_state_abs_difference"]:.1e} | '
                   + ('(the control) | |' if found['tolerance'] is None else
                      f'{found["tolerance"]:.0e} | {"yes" if found["within_tolerance"] else "NO"} |'))
  return '\n\n'.join(header + ['\n'.join(lines)]) + '\n'


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
  parser.add_argument('--configs', default='dcgan,hinge_resnet')
  parser.add_argument('--steps', type=int, default=20)
  parser.add_argument('--fresh', action='store_true')
  parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
  parser.add_argument('--layout', default='', help=argparse.SUPPRESS)
  parser.add_argument('--pickle', default='', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.worker:
    worker(args.configs, args.layout, args.steps, args.pickle)
    return
  path = RESULTS + '.json'
  results = {} if args.fresh else common.load_results(path)
  with tempfile.TemporaryDirectory() as directory:
    for name in args.configs.split(','):
      if any(key.startswith(f'{name}|') for key in results):
        continue
      reference = run(name, LAYOUTS[0][0], args.steps, directory)
      control = run(name, LAYOUTS[1][0], args.steps, directory)
      for label, _, _ in LAYOUTS[1:]:
        other = control if label == LAYOUTS[1][0] else run(name, label, args.steps, directory)
        row = compare(reference, other, None if other is control else control, args.steps)
        results[f'{name}|{label}'] = dict(row, steps=args.steps)
        print(name, label, row, flush=True)
        common.save_results(results, path)
        with open(RESULTS + '.md', 'w') as f:
          f.write(markdown(results, args.steps))
  print(markdown(results, args.steps))


if __name__ == '__main__':
  main()
