"""Evaluators: objects that score a train state, run by the trainer and by `jaxgan.eval`.

config.eval holds `every_steps` (the trainer's interval; 0 = off), `best_metric` and `best_mode`
('min' or 'max': which checkpoint workdir/checkpoints_best keeps; '' keeps none) and one block
per evaluator, config.eval.<name>, whose `type` picks its class in EVALUATORS:

  'inception'  sample_quality.SampleQualityEvaluator: FID, KID, precision/recall, IS of samples
  'heldout'    heldout.HeldOutEvaluator: the family's per-example eval_metrics over a split

(an evaluator's module is imported when a config uses it: importing this package loads none)

An evaluator class has
  check(name, block, config, family) -> result names   (static; ConfigError, no compute)
  cls(name, block, config, family, mesh)
  __call__(state, step) -> {result name: float}
  protocol() -> dict saying what the numbers mean (network weights, data, split, seed...)
A new evaluator is one class and one EVALUATORS entry. Results: jaxgan/evaluation/results.py;
the trainer's periodic runs and best checkpoint: jaxgan/evaluation/periodic.py.
"""
import importlib

import jax
import ml_collections

from jaxgan import config_lib

EVALUATORS = {'inception': 'sample_quality:SampleQualityEvaluator',
              'heldout': 'heldout:HeldOutEvaluator'}
FIELDS = ('every_steps', 'best_metric', 'best_mode')  # config.eval's fields besides the blocks
BEST_MODES = ('min', 'max')


def evaluator_blocks(config: ml_collections.ConfigDict) -> dict[str, ml_collections.ConfigDict]:
  """{name: block} of config.eval's evaluators; a ConfigError for any other field or an unknown
  type (among them the flat config.eval of config.json files written by older versions)."""
  blocks = {}
  for name, value in config.eval.items():
    if name in FIELDS:
      continue
    if not isinstance(value, ml_collections.ConfigDict):
      raise config_lib.ConfigError(
          f'config.eval.{name} is not an evaluator block: config.eval holds {", ".join(FIELDS)} '
          'and one block config.eval.<name> per evaluator, with a `type`. A config.json written '
          'by an older jaxgan (flat config.eval with `metrics`) needs the eval block of a '
          'config file: pass --config=configs/<the file it was trained with>.py, e.g. '
          '--config=configs/dcgan.py, to jaxgan.eval.')
    if value.get('type') not in EVALUATORS:
      raise config_lib.ConfigError(f'Unknown config.eval.{name}.type {value.get("type")!r}; '
                                   f'choose one of {sorted(EVALUATORS)}.')
    blocks[name] = value
  return blocks


def evaluator_class(evaluator_type: str) -> type:
  """The class of EVALUATORS[evaluator_type], its module imported on first use."""
  entry = EVALUATORS[evaluator_type]
  if isinstance(entry, str):
    module, attribute = entry.split(':')
    entry = getattr(importlib.import_module(f'{__name__}.{module}'), attribute)
  return entry


def check_config(config: ml_collections.ConfigDict, family) -> dict[str, tuple[str, ...]]:
  """Checks config.eval before any compute; returns {evaluator name: its result names}."""
  every_steps = config.eval.get('every_steps')
  if not isinstance(every_steps, int) or every_steps < 0:
    raise config_lib.ConfigError(f'config.eval.every_steps must be an integer >= 0 (0 = off), '
                                 f'got {every_steps!r}.')
  names = {name: evaluator_class(block.type).check(name, block, config, family)
           for name, block in evaluator_blocks(config).items()}
  producers = {}
  for name, results in names.items():
    for result in results:
      if result in producers:
        raise config_lib.ConfigError(
            f'config.eval.{producers[result]} and config.eval.{name} both produce {result!r}; '
            'results.json keeps one value per name: drop or change one of them.')
      producers[result] = name
  best_metric, best_mode = config.eval.get('best_metric'), config.eval.get('best_mode')
  if best_mode not in BEST_MODES:
    raise config_lib.ConfigError(f'config.eval.best_mode must be one of {BEST_MODES}, got '
                                 f'{best_mode!r}.')
  if best_metric and best_metric not in producers:
    raise config_lib.ConfigError(
        f'config.eval.best_metric={best_metric!r} is not produced by any evaluator of '
        f'config.eval; they produce {sorted(producers) or "nothing"} ("" keeps no best '
        'checkpoint).')
  return names


def selection(config: ml_collections.ConfigDict, names: dict[str, tuple[str, ...]]
              ) -> dict | None:
  """What chooses workdir/checkpoints_best, for results.json: {'metric', 'mode', 'evaluator',
  'split'}, the split being the data the deciding evaluator reads (a held-out pass's split, or
  the reference split samples are compared with); None without a best_metric. `names`:
  check_config's result."""
  metric = config.eval.get('best_metric')
  for name, results in names.items():
    if metric and metric in results:
      block = config.eval[name]
      return {'metric': metric, 'mode': config.eval.best_mode, 'evaluator': name,
              'split': block.get('split', block.get('reference_split'))}
  return None


def make_evaluators(config: ml_collections.ConfigDict, family, mesh: jax.sharding.Mesh,
                    names: dict | None = None) -> dict[str, object]:
  """{name: evaluator} for config.eval's blocks, in config order, after check_config (`names`:
  its result, when the caller already has it)."""
  if names is None:
    check_config(config, family)
  return {name: evaluator_class(block.type)(name, block, config, family, mesh)
          for name, block in evaluator_blocks(config).items()}


def evaluate(evaluators: dict, state, step: int) -> tuple[dict[str, float], dict]:
  """(results of all evaluators, {evaluator name: dict(type=..., **its protocol)})."""
  results, protocol = {}, {}
  for name, evaluator in evaluators.items():
    results.update(evaluator(state, step))
    protocol[name] = {'type': evaluator.block.type, **evaluator.protocol()}
  return results, protocol
