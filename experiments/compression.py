"""The compression tables of the README (issue 27): a generator as a teacher, and what
distillation, channel pruning and int8 make of it. --model picks the generator: dcgan (the
configs/dcgan.py generator on mnist_5k, the default), srresnet (configs/srresnet.py on the
photographs), pix2pix (configs/pix2pix.py, edges -> digits) or cyclegan (configs/cyclegan.py,
digits; the students and the quality are A -> B's).

  python experiments/compression.py [--model=dcgan] [--teacher_steps=600] [--student_steps=300]
      [--seeds=0,1,2] [--num_samples=1000] [--stages=train,quality,latency] [--tag=cpu]
      [--root=/tmp/compression] [--parallel_seeds]

Rows (each seed trains its own teacher; every student of that seed learns from it):
  teacher        configs/<model>.py, `teacher_steps` steps (defaults: DCGAN 600, the others 1000)
  distill x0.5   configs/distill.py:<model>, generator widths x0.5, `student_steps` steps (DCGAN
                 300, the others 500), D from the teacher's where it has one (GAN Compression's
                 objective: reconstruction, features, GAN loss; pix2pix, SRResNet: + L1 to the
                 targets)
  distill x0.25  the same at x0.25
  scratch x0.5   configs/<model>.py with the x0.5 generator and a fresh D, `student_steps` steps:
                 what distillation buys over training the same network alone for as long
  scratch x0.25  the same at x0.25
  pruned 0.5     `python -m jaxgan.prune --keep=0.5` of the teacher (L1 criterion), then
                 `student_steps` steps of fine-tuning through the trainer
  pruned 0.25    the same at keep 0.25
  teacher continued  the teacher resumed for `student_steps` more steps: the reference for the
                 pruned rows, which have as many steps in all
  int8           the teacher through `jaxgan.load(..., quantize='int8')` (no training)

Quality, mean ± std over seeds. DCGAN: FID and KID (jaxgan/evaluation: Inception pool3, clean
resize, reference = the 4,500 mnist_5k training digits) of `num_samples` samples of each run's
EMA generator, drawn with `jaxgan.load(run).sample(num_samples, seed=0)` (the same latents for
every row). SRResNet: PSNR/SSIM on luma and LPIPS of the held-out photographs, whole
(experiments/super_resolution.py's protocol and functions). pix2pix: the Canny edges of the 500
mnist_5k test digits translated; L1, PSNR, SSIM against the digits, the digit classifier's
accuracy and KID against the real test digits (experiments/pix2pix.py's). CycleGAN: the 500
scikit-learn test digits translated A -> B; the classifier's accuracy against their labels and
KID against the 500 real mnist_5k test digits (experiments/cyclegan.py's). Latency:
`jaxgan.load(run).generate` (EMA generator, uint8 out, device_get included), or `.translate` of
random inputs of the training input size, at batch 1 and 64, rows alternating in one process,
the median of `--repeats` rounds after warm-up, seed 0's runs. Training minutes: wall time of
the `python -m jaxgan.main` process (start-up and compilation included), mean over seeds; a
student's excludes its teacher's.

Results go to experiments/results/compression_<tag>.{json,md} (tag default: cpu for DCGAN,
<model>_cpu otherwise), rewritten after every finished run
or measurement, so a killed run keeps what it finished and a rerun skips it. --parallel_seeds
trains each seed in its own process (on a GPU the small steps are launch-bound, so three
processes share it well).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from experiments import common  # pylint: disable=g-import-not-at-top

REPO = common.REPO
RESULTS = os.path.join(REPO, 'experiments', 'results')
# --model: (its config file, default teacher and student steps, what the table says it is)
MODELS = {
    'dcgan': ('dcgan.py', 600, 300, 'DCGAN on mnist_5k'),
    'srresnet': ('srresnet.py', 1000, 500, 'SRResNet x4 on the photographs'),
    'pix2pix': ('pix2pix.py', 1000, 500, 'pix2pix edges -> digits'),
    'cyclegan': ('cyclegan.py', 1000, 500, 'CycleGAN digits, A -> B'),
}
# --model: the quality columns (result key, column name, scale)
QUALITY = {
    'dcgan': (('fid', 'FID', 1), ('kid', 'KID x1e3', 1e3)),
    'srresnet': (('psnr_y', 'PSNR-Y dB', 1), ('ssim_y', 'SSIM-Y', 1), ('lpips', 'LPIPS', 1)),
    'pix2pix': (('accuracy', 'accuracy', 1), ('kid', 'KID x1e3', 1e3), ('l1', 'L1', 1)),
    'cyclegan': (('accuracy', 'accuracy', 1), ('kid', 'KID x1e3', 1e3)),
}


def rows() -> dict:
  """Row name -> how its run is made: ('teacher'|'distill'|'scratch'|'prune'|'continued'|'int8',
  value)."""
  return {'teacher': ('teacher', 1.0),
          'distill x0.5': ('distill', 0.5), 'distill x0.25': ('distill', 0.25),
          'scratch x0.5': ('scratch', 0.5), 'scratch x0.25': ('scratch', 0.25),
          'pruned 0.5': ('prune', 0.5), 'pruned 0.25': ('prune', 0.25),
          'teacher continued': ('continued', 1.0), 'int8': ('int8', None)}


def run_dir(root: str, row: str, seed: int) -> str:
  kind, value = rows()[row]
  if kind == 'int8':
    return run_dir(root, 'teacher', seed)
  return os.path.join(root, f'seed{seed}', f'{kind}_{value:g}')


def _schedule_flags(seed: int, steps: int, model: str) -> list[str]:
  flags = [f'--config.seed={seed}', f'--config.train.num_steps={steps}',
           f'--config.train.log_every={max(steps // 4, 1)}',
           f'--config.train.checkpoint_every={steps}', f'--config.train.sample_every={steps}']
  return flags if model == 'dcgan' else flags + ['--config.eval.every_steps=0']  # scored here


def _scaled(model: str, multiplier: float) -> list[str]:
  """configs/<model>.py's generator widths as a distilled student of `multiplier` has them
  (distill.scaled_model_widths), as --config flags."""
  from jaxgan import config_lib  # pylint: disable=g-import-not-at-top
  from jaxgan.families import distill  # pylint: disable=g-import-not-at-top
  config = config_lib.load_config(os.path.join(REPO, 'configs', MODELS[model][0]))
  widths = distill.scaled_model_widths(config, multiplier)
  return [f'--config.model.{field}=' + (str(value) if isinstance(value, int) else
                                        '(' + ','.join(map(str, value)) + ')')
          for field, value in widths.items()]


def _pruned_step(workdir: str) -> int:
  """The step jaxgan.prune checkpointed the pruned run at (its prune.json)."""
  with open(os.path.join(workdir, 'prune.json')) as f:
    return json.load(f)['step']


def _timed(command: list[str], record: dict, key: str, path: str, results: dict) -> None:
  print('$', ' '.join(command), flush=True)
  start = time.perf_counter()
  subprocess.run(command, check=True)
  record[key] = record.get(key, 0.0) + time.perf_counter() - start
  common.save_results(results, path)


def train_seed(seed: int, args) -> None:
  """Makes every run of `seed` that is not finished; records wall times in root/seed<N>.json."""
  path = os.path.join(args.root, f'seed{seed}.json')
  os.makedirs(args.root, exist_ok=True)
  results = common.load_results(path)
  teacher = run_dir(args.root, 'teacher', seed)
  for row in args.rows:
    kind, value = rows()[row]
    record = results.setdefault(row, {})
    if kind == 'int8' or record.get('finished'):
      continue
    workdir = run_dir(args.root, row, seed)
    main = [sys.executable, '-m', 'jaxgan.main', f'--workdir={workdir}']
    config = f'--config={REPO}/configs/{MODELS[args.model][0]}'
    if kind == 'teacher':
      command = [*main, config, *_schedule_flags(seed, args.teacher_steps, args.model)]
    elif kind == 'distill':
      command = [*main, f'--config={REPO}/configs/distill.py:{args.model}',
                 f'--config.distill.teacher={teacher}',
                 f'--config.distill.width_multiplier={value}',
                 *_schedule_flags(seed, args.student_steps, args.model)]
    elif kind == 'scratch':
      command = [*main, config, *_scaled(args.model, value),
                 *_schedule_flags(seed, args.student_steps, args.model)]
    elif kind == 'continued':  # a copy of the teacher's run, resumed
      if not os.path.isdir(workdir):  # copied whole or not at all
        shutil.copytree(teacher, workdir + '.partial', dirs_exist_ok=True)
        os.replace(workdir + '.partial', workdir)
      command = [*main, config, *_schedule_flags(seed, args.teacher_steps + args.student_steps,
                                                 args.model)]
    else:  # prune, then fine-tune from the pruned checkpoint's step
      if not os.path.isdir(os.path.join(workdir, 'checkpoints')):
        _timed([sys.executable, '-m', 'jaxgan.prune', f'--workdir={teacher}',
                f'--out={workdir}', f'--keep={value}', '--criterion=l1'],
               record, 'prune_seconds', path, results)
      start = _pruned_step(workdir)
      record['pruned_step'] = start
      command = [*main, f'--config={workdir}/config.py',
                 *_schedule_flags(seed, start + args.student_steps, args.model)]
    _timed(command, record, 'seconds', path, results)
    record['finished'] = True
    record['command'] = ' '.join(command[1:]).replace(REPO + '/', '').replace(args.root, 'ROOT')
    common.save_results(results, path)


def train(args) -> None:
  if not args.parallel_seeds or len(args.seeds) == 1:
    for seed in args.seeds:
      train_seed(seed, args)
    return
  own = [a for a in sys.argv[1:] if not a.startswith(('--seeds', '--stages', '--parallel'))]
  processes = [subprocess.Popen([sys.executable, os.path.abspath(__file__), f'--seeds={seed}',
                                 '--stages=train', *own]) for seed in args.seeds]
  codes = [p.wait() for p in processes]
  if any(codes):
    raise SystemExit(f'training failed for seeds {[s for s, c in zip(args.seeds, codes) if c]}')


def _load(row: str, seed: int, args, **options):
  import jaxgan  # pylint: disable=g-import-not-at-top
  if rows()[row][0] == 'int8':
    options['quantize'] = 'int8'
  return jaxgan.load(run_dir(args.root, row, seed), **options)


def _sample_scorer(args):
  """(protocol, score(model) -> {'fid', 'kid'}): `num_samples` samples against mnist_5k."""
  import jax  # pylint: disable=g-import-not-at-top
  from jaxgan import config_lib  # pylint: disable=g-import-not-at-top
  from jaxgan.evaluation import metrics  # pylint: disable=g-import-not-at-top
  from jaxgan.evaluation import sample_quality  # pylint: disable=g-import-not-at-top
  from jaxgan.training import mesh as mesh_lib  # pylint: disable=g-import-not-at-top
  config = config_lib.load_config(os.path.join(REPO, 'configs', 'dcgan.py'))
  block = config.eval.sample_quality
  extractor = sample_quality.InceptionFeatures(mesh_lib.make_mesh(jax.devices()[:1]),
                                               block.batch_size, block.resizer)
  real = sample_quality.reference_features(config.data, block.reference_split,
                                           block.reference_count, extractor)
  real_statistics = metrics.feature_statistics(real)
  protocol = {
      **extractor.protocol(), 'reference': f'mnist_5k {block.reference_split!r}, {len(real)} '
      'images', 'num_samples': args.num_samples,
      'kid': f'{block.kid_subsets} subsets of {min(block.kid_subset_size, args.num_samples)}',
      'samples': 'jaxgan.load(run).sample(num_samples, seed=0): EMA generator, uint8'}

  def score(model) -> dict:
    fake = extractor(model.sample(args.num_samples, seed=0), 'Inception features')
    kid, _ = metrics.kernel_inception_distance(
        real, fake, block.kid_subsets, min(block.kid_subset_size, args.num_samples), block.seed)
    return {'fid': metrics.frechet_distance(real_statistics, metrics.feature_statistics(fake)),
            'kid': kid}
  return protocol, score


def _translation_scorer(model_name: str):
  """(protocol, score(model) -> dict) on the held-out set of a translating model, with the
  functions of its own experiment script (module doc)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from jaxgan import config_lib  # pylint: disable=g-import-not-at-top
  from jaxgan.data import sources as data  # pylint: disable=g-import-not-at-top
  if model_name == 'srresnet':
    from experiments import super_resolution  # pylint: disable=g-import-not-at-top
    from jaxgan.pretrained import lpips  # pylint: disable=g-import-not-at-top
    names, targets = super_resolution.held_out('photos')
    scale, weights = super_resolution.SCALES['photos'], lpips.load()
    inputs = [super_resolution.pil_resize(t, t.shape[0] // scale, t.shape[1] // scale)
              for t in targets]
    return ({'held_out': names, 'protocol': super_resolution.__doc__.split('then scores')[1]
             .strip()},
            lambda model: super_resolution.score(
                [model.translate(x, tile=super_resolution.TILE,
                                 overlap=super_resolution.OVERLAP) for x in inputs],
                targets, scale, weights))
  if model_name == 'pix2pix':
    from experiments import pix2pix  # pylint: disable=g-import-not-at-top
    config = config_lib.load_config(os.path.join(REPO, 'configs', 'pix2pix.py'))
    test = data.open_source(config.data, 'test').get(np.arange(500))
    scores = common.DigitScores(data.load_mnist_5k('test').labels, test['target'])
    return ({'split': 'mnist_5k test (500 digits), zero-padded to 32x32, Canny edges (sigma '
                      '1.0) translated', **scores.protocol()},
            lambda model: {**pix2pix.image_scores(outputs := model.translate(test['input']),
                                                  test['target']), **scores(outputs)})
  from experiments import cyclegan  # pylint: disable=g-import-not-at-top
  test, _ = cyclegan._test_domains('digits')  # pylint: disable=protected-access
  scores = common.DigitScores(test['a']['label'], test['b']['image'])
  return ({'split': "scikit-learn digits' test split (500) in MNIST's frame translated A -> B",
           **scores.protocol()},
          lambda model: scores(model.translate(test['a']['image'])))


def quality(args, results: dict, path: str) -> None:
  """The quality of every finished run (QUALITY[args.model]), in results['quality'][row][seed]."""
  protocol, score = (_sample_scorer(args) if args.model == 'dcgan' else
                     _translation_scorer(args.model))
  results['quality_protocol'] = protocol
  if args.protocol_note:
    results['quality_protocol']['note'] = args.protocol_note
  for seed in args.seeds:
    for row in args.rows:
      entry = results.setdefault('quality', {}).setdefault(row, {})
      if str(seed) in entry or not _finished(row, seed, args):
        continue
      entry[str(seed)] = score(_load(row, seed, args, max_batch=250))
      print(f'{row} seed {seed}: {entry[str(seed)]}', flush=True)
      common.save_results(results, path)


def _finished(row: str, seed: int, args) -> bool:
  record = common.load_results(os.path.join(args.root, f'seed{seed}.json'))
  source = 'teacher' if rows()[row][0] == 'int8' else row
  return bool(record.get(source, {}).get('finished'))


def latency(args, results: dict, path: str) -> None:
  """Seconds per image at batch 1 and 64, rows alternating; and each run's cost facts."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from jaxgan.families import base  # pylint: disable=g-import-not-at-top
  seed = args.seeds[0]
  models = {row: _load(row, seed, args) for row in args.rows if _finished(row, seed, args)}
  run = next(iter(models.values()))
  if args.model == 'dcgan':
    inputs, apply = run.latents(64, seed=0), lambda model, x: model.generate(x)
  else:  # random uint8 images of the training input size
    shape = base.translation_inputs(run.family).shape[1:]
    inputs = np.random.default_rng(0).integers(0, 256, (64, *shape), np.uint8)
    apply = lambda model, x: model.translate(x)
  for row, model in models.items():
    results.setdefault('cost', {})[row] = model.info['cost']
    for batch in (1, 64):
      apply(model, inputs[:batch])  # compile
  times = {row: {1: [], 64: []} for row in models}
  for _ in range(args.repeats):
    for row, model in models.items():
      for batch in (1, 64):
        start = time.perf_counter()
        apply(model, inputs[:batch])
        times[row][batch].append(time.perf_counter() - start)
  results['latency'] = {
      row: {f'batch{b}_ms_per_image': 1e3 * statistics.median(t) / b for b, t in by.items()}
      for row, by in times.items()}
  results['latency_device'] = f'{jax.devices()[0].device_kind} ({jax.default_backend()})'
  results['latency_repeats'] = args.repeats
  common.save_results(results, path)


def table(args, results: dict) -> str:
  """The Markdown table of `results`: quality and training columns only where scored (a
  latency-only run leaves them out), speed-ups against the teacher's latency."""
  training = {seed: results.get('training', {}).get(str(seed), {}) for seed in args.seeds}
  latency = results.get('latency', {})
  teacher_speed = latency.get('teacher', {})

  def cost(row, key, form):
    found = results.get('cost', {}).get(row, {})
    return form(found[key]) if key in found else '?'

  def quality(row, key, scale):
    values = [scale * v[key] for v in results.get('quality', {}).get(row, {}).values()]
    return common.mean_std(values) if values else '?'

  def speed(row, batch):
    key = f'batch{batch}_ms_per_image'
    if key not in latency.get(row, {}):
      return '?'
    ms = latency[row][key]
    ratio = teacher_speed[key] / ms if key in teacher_speed else float('nan')
    return f'{ms:.3f} ({ratio:.2f}x)'

  def minutes(row):
    found = [training[s].get('teacher' if row == 'int8' else row, {}).get('seconds')
             for s in args.seeds]
    found = [m / 60 for m in found if m is not None]
    return '(none)' if row == 'int8' else (f'{statistics.mean(found):.1f}' if found else '?')

  columns = {'G params': lambda r: cost(r, 'parameters', '{:,}'.format),
             'G MACs / image': lambda r: cost(r, 'macs_per_image', lambda m: f'{m / 1e6:.1f} M'),
             'weights': lambda r: cost(r, 'weight_bytes', lambda b: f'{b / 2**20:.2f} MiB')}
  header = f'{MODELS[args.model][3]}; seeds {args.seeds}'
  if results.get('quality'):
    columns.update({name: lambda r, key=key, scale=scale: quality(r, key, scale)
                    for key, name, scale in QUALITY[args.model]})
    columns['training min'] = minutes
    header += f'; teacher {args.teacher_steps} steps, students {args.student_steps} steps'
    if args.model == 'dcgan':
      header += f', batch 64; FID/KID on {args.num_samples} samples'
  if latency:
    columns.update({'ms / image, batch 1 (x teacher)': lambda r: speed(r, 1),
                    'ms / image, batch 64 (x teacher)': lambda r: speed(r, 64)})
    header += f'; latency on {results.get("latency_device", "?")}'
  lines = [header + '.', '', '| row | ' + ' | '.join(columns) + ' |',
           '|---|' + '---:|' * len(columns)]
  lines += ['| ' + ' | '.join([row] + [column(row) for column in columns.values()]) + ' |'
            for row in args.rows]
  return '\n'.join(lines) + '\n'


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
  parser.add_argument('--model', default='dcgan', choices=sorted(MODELS))
  parser.add_argument('--teacher_steps', type=int, default=None,
                      help='default: 600 for dcgan, 1000 for the others')
  parser.add_argument('--student_steps', type=int, default=None,
                      help='default: 300 for dcgan, 500 for the others')
  parser.add_argument('--seeds', default='0,1,2')
  parser.add_argument('--num_samples', type=int, default=1000)
  parser.add_argument('--repeats', type=int, default=20)
  parser.add_argument('--rows', default=','.join(rows()),
                      help='comma-separated row names (default: all)')
  parser.add_argument('--stages', default='train,quality,latency',
                      help='any of train, quality, latency, report (the table alone)')
  parser.add_argument('--tag', default=None, help='default: cpu (dcgan), <model>_cpu')
  parser.add_argument('--root', default='/tmp/compression')
  parser.add_argument('--parallel_seeds', action='store_true')
  parser.add_argument('--protocol_note', default='',
                      help='recorded with the quality protocol (e.g. which weights were used)')
  args = parser.parse_args()
  _, teacher_steps, student_steps, _ = MODELS[args.model]
  args.teacher_steps = args.teacher_steps or teacher_steps
  args.student_steps = args.student_steps or student_steps
  args.tag = args.tag or ('cpu' if args.model == 'dcgan' else f'{args.model}_cpu')
  args.seeds = [int(s) for s in args.seeds.split(',')]
  args.rows = args.rows.split(',')
  unknown = [r for r in args.rows if r not in rows()]
  if unknown:
    parser.error(f'unknown rows {unknown}; choose from {list(rows())}')
  args.root = os.path.abspath(os.path.join(args.root, args.tag))
  stages = args.stages.split(',')
  if 'train' in stages:
    train(args)
  if not {'quality', 'latency', 'report'} & set(stages):  # report: the table of what is there
    return
  from jaxgan import platform  # pylint: disable=g-import-not-at-top
  platform.use_default_xla_flags()
  path = os.path.join(RESULTS, f'compression_{args.tag}.json')
  results = common.load_results(path)
  results['settings'] = {k: getattr(args, k) for k in ('teacher_steps', 'student_steps', 'seeds',
                                                        'num_samples', 'rows')}
  if args.model != 'dcgan':
    results['settings']['model'] = args.model
  if 'quality' in stages:
    quality(args, results, path)
  if 'latency' in stages:
    latency(args, results, path)
  for seed in args.seeds:  # the training records of this machine's runs, where there are any
    record = common.load_results(os.path.join(args.root, f'seed{seed}.json'))
    if record:
      results.setdefault('training', {})[str(seed)] = record
  common.save_results(results, path)
  markdown = table(args, results)
  with open(os.path.join(RESULTS, f'compression_{args.tag}.md'), 'w') as f:
    f.write(markdown)
  print(markdown)


if __name__ == '__main__':
  main()
