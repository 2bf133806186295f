"""Evaluates a training directory's checkpoints with the evaluators of `config.eval`.

  python -m jaxgan.eval --config=configs/dcgan.py --workdir=DIR          # latest checkpoint
  python -m jaxgan.eval --config=configs/dcgan.py --workdir=DIR --all    # every checkpoint
  python -m jaxgan.eval --config=configs/dcgan.py --workdir=DIR --step=2000 \
      --config.eval.sample_quality.num_samples=10000

The model and data come from DIR/config.json (what was trained); the `eval` block comes from
--config when given (with any --config.eval.* overrides), else from DIR/config.json. Results are
merged by checkpoint step into DIR/eval/results.json, with the protocol, and written as
TensorBoard scalars under DIR/eval. Long steps (sampling, Inception features, held-out passes)
log their progress to stderr.
"""
import os

from absl import app
from absl import flags
from jaxgan.training import writers
import jax
import ml_collections
from ml_collections import config_flags

from jaxgan import config_lib
from jaxgan import console
from jaxgan.data import sources as data
from jaxgan import evaluation
from jaxgan.evaluation import results as results_lib
from jaxgan import families
from jaxgan.inference import runs
from jaxgan.pretrained import inception
from jaxgan.training import checkpoints
from jaxgan.training import mesh as mesh_lib

def with_eval_block(config: ml_collections.ConfigDict,
                    eval_source: ml_collections.ConfigDict | None) -> ml_collections.ConfigDict:
  """The run's config with the `eval` block of `eval_source` (or its own)."""
  eval_config = eval_source.get('eval') if eval_source is not None else config.get('eval')
  if eval_config is None:
    raise config_lib.ConfigError(
        'The run\'s config.json has no `eval` block (it predates evaluation); pass '
        '--config=<the config file it was trained with>, e.g. configs/dcgan.py.')
  merged = ml_collections.ConfigDict(config.to_dict())
  merged.eval = ml_collections.ConfigDict(eval_config.to_dict())
  merged.lock()
  evaluation.evaluator_blocks(merged)  # the layout, before the family reads the block
  return merged


def evaluate_run(workdir: str, eval_source=None, step: int | None = None,
                 all_steps: bool = False) -> dict[int, dict]:
  """Evaluates checkpoints of `workdir`; returns {step: results} and records them."""
  config = with_eval_block(runs.load_config(workdir), eval_source)
  evaluation.check_config(config, families.make(config))  # before restoring anything
  run = runs.TrainedRun(workdir, config)  # its family reads this eval block (e.g. IWAE's k)
  try:
    evaluators = evaluation.make_evaluators(config, run.family, mesh_lib.make_mesh())
    return _evaluate_checkpoints(run, workdir, evaluators,
                                 (run.steps() if all_steps else None) or [step])
  finally:
    run.close()


def _evaluate_checkpoints(run, workdir: str, evaluators, steps) -> dict[int, dict]:
  """Evaluates the checkpoints of `steps` (None: the latest) and records the results."""
  writer = writers.create_default_writer(os.path.join(workdir, 'eval'),
                                         just_logging=jax.process_index() > 0)
  evaluated = {}
  for requested_step in steps:
    state = run.restore(requested_step)
    checkpoint_step = int(state.step)
    results, protocol = evaluation.evaluate(evaluators, state, checkpoint_step)
    if jax.process_index() == 0:
      results_lib.record_results(workdir, checkpoint_step, results, protocol, source='eval')
    writer.write_scalars(checkpoint_step, {f'eval/{k}': v for k, v in results.items()})
    print(f'step {checkpoint_step}: ' + ' '.join(f'{k}={v:.6g}' for k, v in results.items()),
          flush=True)
    evaluated[checkpoint_step] = results
  writer.flush()
  return evaluated


FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command line's flags, defined when it runs (not on import: tools import together)."""
  config_flags.DEFINE_config_file(
      'config', None,
      'Config file [:arg] whose `eval` block to use (default: DIR/config.json\'s).',
      lock_config=True)
  flags.DEFINE_string('workdir', None, 'Training directory (config.json + checkpoints).')
  flags.DEFINE_integer('step', None, 'Checkpoint step (default: latest).')
  flags.DEFINE_bool('all', False, 'Evaluate every checkpoint in DIR/checkpoints.')
  flags.mark_flag_as_required('workdir')


def main(argv):
  console.start_command(argv)
  try:
    evaluate_run(FLAGS.workdir, FLAGS.config, FLAGS.step, FLAGS.all)
  except config_lib.ConfigError as e:  # the command line or config: exit 2, as every tool
    console.fatal(f'ConfigError: {e}', console.EXIT_CONFIG_ERROR)
  except (ValueError, checkpoints.CheckpointError, data.DatasetError,
          inception.WeightsError) as e:
    console.fatal(f'{type(e).__name__}: {e}', console.EXIT_RUN_ERROR)
  except KeyboardInterrupt:
    console.interrupted(f'{os.path.abspath(results_lib.results_path(FLAGS.workdir))} holds '
                        'the evaluations that finished, each written whole')
  print(f'Results in {os.path.abspath(results_lib.results_path(FLAGS.workdir))}')


parse_flags = console.parse_flags


if __name__ == '__main__':
  define_flags()
  app.run(main, flags_parser=parse_flags)
