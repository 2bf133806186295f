"""The results store: `<workdir>/eval/results.json`, one entry per checkpoint step, merged.

An entry is {'step', 'metrics': {name: float}, 'protocol': {evaluator name: its protocol,
'checkpoint_step': step}, 'source': 'train' | 'eval' | ..., 'time': UTC ISO 8601} and, for a
run of several phases, 'phase': {'index', 'name', 'image_size'} of the last update's phase;
the trainer's entries also hold 'seconds', the evaluation's duration, and, when a best
checkpoint is kept, 'selected_on': {'metric', 'mode', 'evaluator', 'split'} that choose it.
Entries of other steps (or written by other tools) are kept; a file that is not ours is never
overwritten.
"""
import datetime
import json
import os


def results_path(workdir: str) -> str:
  return os.path.join(workdir, 'eval', 'results.json')


def read_results(workdir: str) -> dict[int, dict]:
  """{step: entry} from results.json; an unreadable file is an error (never overwritten)."""
  path = results_path(workdir)
  if not os.path.exists(path):
    return {}
  try:
    with open(path) as f:
      return {int(step): entry for step, entry in json.load(f).items()}
  except (ValueError, AttributeError) as e:
    raise ValueError(f'{path} is not a results file written by jaxgan ({e}); move it away to '
                     'record new results.') from e


def record_results(workdir: str, step: int, results: dict, protocol: dict, source: str,
                   phase: dict | None = None, seconds: float | None = None,
                   selected_on: dict | None = None) -> None:
  """Merges the results of checkpoint `step` into results.json (atomically); `phase`, if
  given, describes the training phase that produced it, `seconds` how long evaluating took,
  `selected_on` what chooses the best checkpoint (evaluation.selection)."""
  entries = read_results(workdir)
  entries[step] = {'step': step, 'metrics': results,
                   'protocol': dict(protocol, checkpoint_step=step), 'source': source,
                   'time': datetime.datetime.now(datetime.timezone.utc).isoformat()}
  if phase is not None:
    entries[step]['phase'] = phase
  if seconds is not None:
    entries[step]['seconds'] = round(seconds, 3)
  if selected_on is not None:
    entries[step]['selected_on'] = selected_on
  path = results_path(workdir)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  try:  # an interruption (Ctrl-C) leaves the previous file whole and no partial one
    with open(path + '.tmp', 'w') as f:
      json.dump({str(s): entries[s] for s in sorted(entries)}, f, indent=2)
    os.replace(path + '.tmp', path)
  finally:
    if os.path.exists(path + '.tmp'):
      os.remove(path + '.tmp')
