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


def github_headings(markdown: str) -> list[tuple[int, str, str]]:
  """(level, title, anchor) of the `##`..`######` headings of `markdown` (not in code blocks),
  in order, with GitHub's anchors: the title without code marks, lower case, every character
  but letters, digits, spaces, '-' and '_' removed, spaces made '-'; a repeated anchor gets
  -1, -2, ..."""
  headings, seen = [], {}
  in_code = False
  for line in markdown.splitlines():
    in_code ^= line.startswith('```')
    match = None if in_code else re.match(r'(#{2,6}) (.+)', line)
    if match:
      title = match.group(2)
      anchor = re.sub(r'[^\w\- ]', '', title.replace('`', '').lower()).replace(' ', '-')
      headings.append((len(match.group(1)), title,
                       anchor if anchor not in seen else f'{anchor}-{seen[anchor]}'))
      seen[anchor] = seen.get(anchor, 0) + 1
  return headings


def test_github_anchors_of_a_hand_made_example():
  text = ('## Paired translation (pix2pix) and inpainting\n### Results on this CPU\n'
          '```bash\n## not a heading\n```\n## From TensorFlow: a `SavedModel`\n'
          '### Results on this CPU\n')
  assert [anchor for _, _, anchor in github_headings(text)] == [
      'paired-translation-pix2pix-and-inpainting', 'results-on-this-cpu',
      'from-tensorflow-a-savedmodel', 'results-on-this-cpu-1']


def test_the_contents_link_every_section_and_only_sections():
  with open(os.path.join(ROOT, 'README.md')) as f:
    text = f.read()
  links = re.findall(r'\]\(#([^)]+)\)', _readme_section('## Contents\n'))
  headings = github_headings(text)
  dead = sorted(set(links) - {anchor for _, _, anchor in headings})
  assert not dead, f"the README's Contents links to no heading: {dead}"
  missing = [f'- [{title}](#{anchor})' for level, title, anchor in headings
             if level == 2 and title != 'Contents' and anchor not in links]
  assert not missing, "add to the README's Contents: " + ' '.join(missing)
