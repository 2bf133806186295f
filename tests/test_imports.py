"""Every module of jaxgan imports alone in a fresh interpreter (no import cycle, no absl flag
defined on import), the command-line tools import together, and the family protocol loads no
family, data or evaluation module.

One subprocess imports the third-party libraries once and forks a child per module: each child
starts with no jaxgan module loaded, so an import cycle shows in the child of the module that
enters it, and the fork saves each child the libraries' start-up.
"""
import json
import os
import pkgutil
import subprocess
import sys

import jaxgan

TOOLS = ('main', 'eval', 'fid', 'sample', 'translate', 'compare_images', 'stylize', 'export',
         'serve', 'prune')

_CHILDREN = r'''
import importlib, json, os, sys, traceback
import absl.flags, flax.linen, jax, ml_collections, numpy, optax, PIL.Image  # shared, not jaxgan
groups = json.loads(sys.argv[1])
for group in groups:
  read, write = os.pipe()
  pid = os.fork()
  if pid == 0:
    os.close(read)
    try:
      for name in group:
        importlib.import_module(name)
      loaded = sorted(m for m in sys.modules if m.startswith('jaxgan'))
      by_module = absl.flags.FLAGS.flags_by_module_dict()
      defined = sorted(flag.name for module, flags in by_module.items()
                       if module.startswith('jaxgan') for flag in flags)
      os.write(write, json.dumps({'loaded': loaded, 'flags': defined}).encode())
    except BaseException:
      os.write(write, json.dumps({'error': traceback.format_exc()}).encode())
    os._exit(0)
  os.close(write)
  with os.fdopen(read) as pipe:
    report = json.loads(pipe.read() or '{"error": "no report"}')
  os.waitpid(pid, 0)
  print(json.dumps({' + '.join(group): report}), flush=True)
'''


def _import_alone(groups: list[list[str]]) -> dict[str, dict]:
  """{' + '.join(group): {'loaded': [jaxgan modules], 'flags': [absl flags jaxgan defined]} or
  {'error': traceback}} per group, each imported in a fresh child of one interpreter that has
  loaded no jaxgan module."""
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  result = subprocess.run([sys.executable, '-c', _CHILDREN, json.dumps(groups)],
                          capture_output=True, text=True, timeout=300, env=env,
                          cwd=os.path.dirname(os.path.dirname(jaxgan.__file__)))
  assert result.returncode == 0, result.stderr[-3000:]
  reports = {}
  for line in result.stdout.splitlines():
    if line.startswith('{'):
      reports.update(json.loads(line))
  return reports


def test_every_module_imports_alone_the_tools_together_and_the_protocol_light():
  modules = sorted(m.name for m in pkgutil.walk_packages(jaxgan.__path__, 'jaxgan.'))
  assert {f'jaxgan.{tool}' for tool in TOOLS} <= set(modules)
  tools = [f'jaxgan.{tool}' for tool in TOOLS]
  reports = _import_alone([[m] for m in modules] + [tools])
  errors = {name: report['error'] for name, report in reports.items() if 'error' in report}
  assert not errors, '\n'.join(f'{name}:\n{error}' for name, error in errors.items())
  assert len(reports) == len(modules) + 1
  defining = {name: report['flags'] for name, report in reports.items() if report['flags']}
  assert not defining, f'flags defined on import (define them in define_flags): {defining}'
  loaded = reports['jaxgan.families.base']['loaded']
  heavy = [m for m in loaded if m.startswith(('jaxgan.data', 'jaxgan.evaluation'))
           or (m.startswith('jaxgan.families.') and m != 'jaxgan.families.base')]
  assert not heavy, loaded
