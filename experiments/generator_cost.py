"""Parameters and MACs per image (jaxgan/inference/cost.py) of the configs/dcgan.py generator at
the widths distillation gives its students, from initialized states (the figures do not depend
on the weights): the table of README's "Compression: distillation".

  python experiments/generator_cost.py [--multipliers=1,0.5,0.25]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jaxgan import config_lib  # pylint: disable=g-import-not-at-top
from jaxgan import families  # pylint: disable=g-import-not-at-top
from jaxgan.families import distill  # pylint: disable=g-import-not-at-top
from jaxgan.inference import cost  # pylint: disable=g-import-not-at-top
from jaxgan.training import mesh  # pylint: disable=g-import-not-at-top

CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'configs',
                      'dcgan.py')


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
  parser.add_argument('--multipliers', default='1,0.5,0.25')
  args = parser.parse_args()
  print('| generator widths | parameters | MACs per image |\n|---|---:|---:|')
  for multiplier in (float(m) for m in args.multipliers.split(',')):
    config = config_lib.load_config(CONFIG)
    config.model.generator_widths = distill.scaled_widths(config.model.generator_widths,
                                                          multiplier)
    family = families.make(config)
    found = cost.inference_cost(family, families.init_state(family, mesh.make_mesh()))
    print(f'| {config.model.generator_widths} x{multiplier:g} | {found["parameters"]:,} | '
          f'{found["macs_per_image"] / 1e6:.1f} M |')


if __name__ == '__main__':
  main()
