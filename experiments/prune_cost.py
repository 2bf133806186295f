"""Parameters and MACs per image (jaxgan/inference/cost.py) of the default generators of
configs/dcgan.py, srresnet.py, cyclegan.py and pix2pix.py pruned by jaxgan.compression.pruning
at several --keep fractions, from initialized states (the figures do not depend on the weights):
the table of README's "Compression: channel pruning".

  python experiments/prune_cost.py [--keeps=1,0.5,0.25]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jaxgan import config_lib  # pylint: disable=g-import-not-at-top
from jaxgan import families  # pylint: disable=g-import-not-at-top
from jaxgan.compression import pruning  # pylint: disable=g-import-not-at-top
from jaxgan.inference import cost  # pylint: disable=g-import-not-at-top
from jaxgan.training import mesh  # pylint: disable=g-import-not-at-top

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'configs')


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
  parser.add_argument('--keeps', default='1,0.5,0.25')
  args = parser.parse_args()
  print('| generator | keep | prunable widths | parameters | MACs per image |\n'
        '|---|---:|---|---:|---:|')
  for name in ('dcgan', 'srresnet', 'cyclegan', 'pix2pix'):
    config = config_lib.load_config(os.path.join(CONFIGS, f'{name}.py'))
    family = families.make(config)
    state = families.init_state(family, mesh.make_mesh())
    for keep in (float(k) for k in args.keeps.split(',')):
      pruned = pruning.prune_state(config, state, keep)
      found = cost.inference_cost(pruned.family, pruned.state)
      widths = [len(kept) for kept in next(iter(pruned.kept.values())).values()]
      print(f'| {name} | {keep:g} | {tuple(widths)} | {found["parameters"]:,} | '
            f'{found["macs_per_image"] / 1e6:.1f} M |', flush=True)


if __name__ == '__main__':
  main()
