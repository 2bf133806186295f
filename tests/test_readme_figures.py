"""The README's figures name the commands that produced them: the flags it quotes for a result
table are the ones the experiment recorded in experiments/results/."""
import json
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _readme_section(title: str) -> str:
  with open(os.path.join(ROOT, 'README.md')) as f:
    text = f.read()
  start = text.index(title)
  return text[start:text.index('\n## ', start)]


def test_style_transfer_table_quotes_the_recorded_training_command():
  with open(os.path.join(ROOT, 'experiments', 'results', 'style_transfer.json')) as f:
    commands = [entry['command'] for entry in json.load(f)['train'].values()]
  quoted = ' '.join(_readme_section('### Results on this CPU\n\n```bash\npython '
                                    'experiments/style_transfer.py').split())
  for field in ('train.num_steps', 'model.features'):
    recorded = {re.search(rf'--config\.{field}=(\S+)', c).group(1) for c in commands}
    assert len(recorded) == 1, (field, recorded)
    assert f'--config.{field}={recorded.pop()}' in quoted, field
