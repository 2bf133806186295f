"""int8 weights (and, measured here only, int8 activations) against float32: weight bytes, how
far the outputs move, quality and CPU latency through jaxgan.load, for three runs trained here.

  python experiments/quantization.py [--quick] [--root=/tmp/jaxgan_quantization]
      [--out=experiments/results] [--machine='what the timings ran on']

Runs (trained, resumed or skipped in ROOT by python -m jaxgan.main; --quick trains SRResNet
for 300 steps instead of its config's 3000):
  dcgan_tiny  configs/dcgan.py shrunk as the tests' shared run (widths (16, 8, 4), latent 8,
              10 steps of batch 8)
  dcgan       configs/dcgan.py (mnist_5k, widths (256, 128, 64)), 300 steps
  srresnet    configs/srresnet.py (x4, photos), 3000 steps (300 with --quick)
Protocol, each run's final checkpoint loaded four times in one process:
  modes         float32 (jaxgan.load(DIR)); int8 (jaxgan.load(DIR, quantize='int8'): int8
                kernels, float32 activations); int8_dynamic and int8_static: the int8 model
                with every Dense, Conv and sub-pixel ConvTranspose run as int8 x int8 -> int32
                (Int8Activations below), inputs quantized per example (dynamic) or with one
                scale per layer from max|x| over 4 calibration batches (static: 64 latents of
                seeds 100..103, or 16 LR crops 32x32 of the training photographs)
  weight bytes  info['cost']['weight_bytes']: the parameters the inference function reads
  difference    max and mean |mode - float32|: DCGAN of the [-1, 1] images of 64 latents
                (seed 0); SRResNet of the uint8 outputs on the held-out photographs (levels)
  quality       DCGAN: FID and KID (100 subsets of 1000) of N samples (seed 0; N = 5000, 500
                with --quick) against all 4,500 mnist_5k training digits, Inception-v3 pool3,
                clean resizing (the config's sample-quality protocol; fewer samples with
                --quick); SRResNet: PSNR-Y on the held-out photographs as in
                experiments/super_resolution.py (modcrop, PIL bicubic LR, x4, Y, 4-pixel border)
  latency       model.generate / model.translate of a batch of 1 and of 64 (DCGAN latents;
                SRResNet 32x32 LR crops of the first held-out photograph), per image: after
                one warm-up call each, the modes' calls alternate, the median of R repeats
                (R = 20, 5 with --quick); compile time excluded
Results go to OUT/quantization.json after every finished step (a killed run keeps what it
finished) and OUT/quantization.md.
"""
import argparse
import os
import sys
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from experiments import common  # pylint: disable=g-import-not-at-top,wrong-import-position
from experiments import super_resolution  # pylint: disable=wrong-import-position
from jaxgan import config_lib  # pylint: disable=wrong-import-position
from jaxgan.compression import quantize  # pylint: disable=wrong-import-position
from jaxgan.data import image_sets  # pylint: disable=wrong-import-position
from jaxgan.evaluation import image_quality  # pylint: disable=wrong-import-position
from jaxgan.evaluation import metrics  # pylint: disable=wrong-import-position
from jaxgan.evaluation import sample_quality  # pylint: disable=wrong-import-position
from jaxgan.inference import api  # pylint: disable=wrong-import-position
from jaxgan.models import layers  # pylint: disable=wrong-import-position
from jaxgan.training import mesh as mesh_lib  # pylint: disable=wrong-import-position

TINY_DCGAN = ['--config.model.generator_widths=(16,8,4)',
              '--config.model.discriminator_widths=(4,8)', '--config.model.latent_dim=8',
              '--config.train.batch_size=8', '--config.train.num_steps=10',
              '--config.train.checkpoint_every=5']
# name: (config, flags, flags added by --quick)
RUNS = {
    'dcgan_tiny': ('dcgan.py', TINY_DCGAN, []),
    'dcgan': ('dcgan.py', ['--config.train.num_steps=300', '--config.train.checkpoint_every=300'],
              []),
    'srresnet': ('srresnet.py', [], ['--config.train.num_steps=300',
                                     '--config.train.checkpoint_every=300']),
}
MODES = ('float32', 'int8', 'int8_dynamic', 'int8_static')
BATCHES = (1, 64)
LR_CROP = 32
CALIBRATION_BATCHES = 4


class Int8Activations:
  """A flax method interceptor (nn.intercept_methods) that runs each Dense, Conv and sub-pixel
  ConvTranspose as an int8 x int8 -> int32 product: the layer's kernel requantized to its int8
  values (those jaxgan.load stored) and its input quantized symmetrically, either per example
  (dynamic: scale = max|x| / 127 over each example, so padding a batch changes nothing) or
  with one calibrated scale per layer (static: `calibrated` {layer: max|x| over calibration
  batches}); the int32 sums are rescaled by both scales. With `record` (a dict), it runs the
  float layer instead and records max|x| per layer (run eagerly: the calibration pass)."""

  def __init__(self, calibrated: dict | None = None, record: dict | None = None):
    self.calibrated, self.record = calibrated, record

  def __call__(self, next_fun, args, kwargs, context):
    module = context.module
    if context.method_name != '__call__' or type(module) not in (nn.Dense, nn.Conv,
                                                                 layers.ConvTranspose):
      return next_fun(*args, **kwargs)
    x, name = args[0], '/'.join(module.path)
    if self.record is not None:
      self.record[name] = max(self.record.get(name, 0.0), float(jnp.max(jnp.abs(x))))
      return next_fun(*args, **kwargs)
    if self.calibrated is None:
      x_scale = jnp.max(jnp.abs(x), axis=tuple(range(1, x.ndim)), keepdims=True) / 127
      x_scale = jnp.where(x_scale > 0, x_scale, 1.0)
    else:
      x_scale = jnp.float32(max(self.calibrated[name], 1e-12) / 127)
    values = jnp.clip(jnp.round(x / x_scale), -127, 127).astype(jnp.int8)
    params = module.variables['params']
    kernel = quantize.quantize_kernel(params['kernel'])
    dimensions = ('NHWC', 'HWIO', 'NHWC')
    if isinstance(module, nn.Dense):
      sums = jax.lax.dot_general(values, kernel.values, (((x.ndim - 1,), (0,)), ((), ())),
                                 preferred_element_type=jnp.int32)
      outputs = sums * x_scale.reshape(x_scale.shape[:1] + (1,) * (sums.ndim - 1)) * kernel.scale
    elif isinstance(module, nn.Conv):
      strides = module.strides or (1, 1)
      strides = (strides,) * 2 if isinstance(strides, int) else tuple(strides)
      sums = jax.lax.conv_general_dilated(values, kernel.values, strides, module.padding,
                                          dimension_numbers=dimensions,
                                          preferred_element_type=jnp.int32)
      outputs = sums * x_scale * kernel.scale
    else:
      strides = tuple(module.strides)
      padding = [(-int(d[0]), int(d[-1])) for d in map(
          layers.subpixel_offsets, module.kernel_size, strides)]
      sums = jax.lax.conv_general_dilated(
          values, layers.subpixel_kernel(kernel.values, strides), (1, 1), padding,
          dimension_numbers=dimensions, preferred_element_type=jnp.int32)
      outputs = layers.depth_to_space(
          sums * x_scale * jnp.tile(kernel.scale, strides[0] * strides[1]), strides)
    return outputs + params['bias'] if 'bias' in params else outputs


def intercepted(fn, interceptor):
  def run(*args):
    with nn.intercept_methods(interceptor):
      return fn(*args)
  return run


def calibration_inputs(name: str, model: api.Model) -> list:
  """A few batches of what the network takes in training: latents (seed 100, apart from the
  evaluation's) or 32x32 LR crops of the training photographs."""
  if name.startswith('dcgan'):
    return [model.latents(64, seed=100 + i) for i in range(CALIBRATION_BATCHES)]
  rng = np.random.default_rng(0)
  photos = image_sets.photos('train', 3)
  batches = []
  for _ in range(CALIBRATION_BATCHES):
    crops = []
    for photo in (photos[i] for i in rng.integers(0, len(photos), 16)):
      top, left = (rng.integers(0, n - 4 * LR_CROP) for n in photo.shape[:2])
      crops.append(super_resolution.pil_resize(photo[top:top + 4 * LR_CROP,
                                                     left:left + 4 * LR_CROP], LR_CROP, LR_CROP))
    batches.append(np.stack(crops).astype(np.float32) / 127.5 - 1)
  return batches


def load_models(name: str, workdir: str) -> tuple[dict, dict]:
  """({mode: Model}, {mode: jitted fn(state, inputs) -> [-1, 1] images}). The int8_* modes
  are int8 models whose jitted network is swapped for one traced under Int8Activations (the
  Model's own call path otherwise: bucketing, uint8 conversion)."""
  models = {mode: api.load(workdir, quantize=None if mode == 'float32' else 'int8')
            for mode in MODES}
  family = models['float32'].family
  if name.startswith('dcgan'):
    network = lambda state, z: family.generate(state, z)
  else:
    network = lambda state, x: family.translate(state, x)
  record = {}
  for inputs in calibration_inputs(name, models['int8']):
    intercepted(models['int8'].served(network), Int8Activations(record=record))(
        models['int8'].state, inputs)
  functions = {}
  for mode, model in models.items():
    interceptor = {'int8_dynamic': Int8Activations(),
                   'int8_static': Int8Activations(calibrated=record)}.get(mode)
    served = model.served(network)
    functions[mode] = jax.jit(served if interceptor is None else intercepted(served, interceptor))
    if interceptor is not None:  # pylint: disable=protected-access
      if name.startswith('dcgan'):
        model._generate = functions[mode]
      else:
        model._translate = jax.jit(lambda state, x, direction, f=functions[mode]: f(state, x),
                                   static_argnums=2)
  return models, functions


def qwix_probe() -> dict:
  """What qwix 0.1.8's post-training rules do with the DCGAN generator and with flax's Conv:
  {case: 'ok' or the error}. Why jaxgan/compression/quantize.py quantizes the state itself."""
  import qwix  # pylint: disable=g-import-not-at-top
  from jaxgan.models import dcgan  # pylint: disable=g-import-not-at-top
  rules = {'int8 weights': qwix.QuantizationRule(weight_qtype=jnp.int8),
           'int8 weights and activations': qwix.QuantizationRule(weight_qtype=jnp.int8,
                                                                 act_qtype=jnp.int8)}
  cases = {'DCGAN generator (sub-pixel ConvTranspose)': (
      dcgan.Generator(widths=(16, 8, 4), channels=1, image_size=28), (np.zeros((2, 100)),
                                                                      None, False)),
           'flax nn.Conv': (nn.Conv(8, (3, 3)), (np.zeros((2, 8, 8, 4)),))}
  found = {}
  for case, (module, inputs) in cases.items():
    for rule_name, rule in rules.items():
      quantized = qwix.quantize_model(module, qwix.PtqProvider([rule]))
      try:
        jax.eval_shape(lambda m=quantized, x=inputs: m.init(jax.random.key(0), *x))
        found[f'{case}, {rule_name}'] = 'ok'
      except ValueError as error:
        found[f'{case}, {rule_name}'] = f'ValueError: {error}'
  return found


def timed_per_image(calls: dict, batch: int, repeats: int) -> dict:
  """{mode: median seconds per image} of calls[mode]() (a batch of `batch`), alternating."""
  for call in calls.values():
    call()  # compile
  seconds = {mode: [] for mode in calls}
  for _ in range(repeats):
    for mode, call in calls.items():
      start = time.perf_counter()
      call()
      seconds[mode].append(time.perf_counter() - start)
  return {mode: float(np.median(s)) / batch for mode, s in seconds.items()}


def gan_measures(models: dict, functions: dict, num_samples: int, extractor, reference) -> dict:
  """Difference of each quantized mode's [-1, 1] images from float32's, then FID and KID."""
  latents = models['float32'].latents(64, seed=0)
  images = {mode: np.asarray(f(models[mode].state, latents)) for mode, f in functions.items()}
  found = {}
  for mode in MODES[1:]:
    difference = np.abs(images[mode] - images['float32'])
    found[f'{mode}_max_abs_difference'] = float(difference.max())
    found[f'{mode}_mean_abs_difference'] = float(difference.mean())
  statistics = metrics.feature_statistics(reference)
  for mode, model in models.items():
    features = extractor(model.sample(num_samples, seed=0), f'{mode} samples')
    found[f'{mode}_fid'] = metrics.frechet_distance(statistics,
                                                    metrics.feature_statistics(features))
    found[f'{mode}_kid'] = metrics.kernel_inception_distance(reference, features)[0]
  return found


def sr_measures(models: dict) -> dict:
  """Difference of the uint8 outputs from float32's and PSNR-Y on the held-out photographs."""
  scale = super_resolution.SCALES['photos']
  _, targets = super_resolution.held_out('photos')
  inputs = [super_resolution.pil_resize(t, t.shape[0] // scale, t.shape[1] // scale)
            for t in targets]
  outputs = {mode: [model.translate(x, tile=super_resolution.TILE,
                                    overlap=super_resolution.OVERLAP) for x in inputs]
             for mode, model in models.items()}
  found = {}
  for mode in MODES[1:]:
    difference = np.concatenate([np.abs(a.astype(int) - b.astype(int)).ravel()
                                 for a, b in zip(outputs['float32'], outputs[mode])])
    found[f'{mode}_max_abs_difference'] = int(difference.max())
    found[f'{mode}_mean_abs_difference'] = float(difference.mean())
  for mode, images in outputs.items():
    found[f'{mode}_psnr_y'] = float(np.mean(
        [image_quality.psnr(o[None], t[None], scale, True)[0] for o, t in zip(images, targets)]))
  return found


def latency(name: str, models: dict, repeats: int) -> dict:
  """Per-image seconds at each batch size, the modes alternating."""
  found = {}
  for batch in BATCHES:
    if name.startswith('dcgan'):
      latents = models['float32'].latents(batch, seed=1)
      calls = {mode: lambda m=model: m.generate(latents) for mode, model in models.items()}
    else:
      photo = super_resolution.held_out('photos')[1][0]
      low = super_resolution.pil_resize(photo, photo.shape[0] // 4, photo.shape[1] // 4)
      crops = np.stack([low[i % 4 * 8:i % 4 * 8 + LR_CROP, i // 4 * 4:i // 4 * 4 + LR_CROP]
                        for i in range(batch)])
      calls = {mode: lambda m=model: m.translate(crops, tile=0) for mode, model in models.items()}
    for mode, seconds in timed_per_image(calls, batch, repeats).items():
      found[f'{mode}_seconds_per_image_batch{batch}'] = seconds
  return found


def measure(name: str, workdir: str, args, extractor, reference) -> dict:
  print(f'{name}: loading {MODES}, calibrating, then quality and latency', flush=True)
  models, functions = load_models(name, workdir)
  costs = {mode: model.info['cost'] for mode, model in models.items()}
  found = {'step': models['float32'].step, 'parameters': costs['float32']['parameters'],
           'float32_weight_bytes': costs['float32']['weight_bytes'],
           'int8_weight_bytes': costs['int8']['weight_bytes'],
           'quantized_kernels': len(models['int8'].info['quantization']['quantized'])}
  if name.startswith('dcgan'):
    found.update(gan_measures(models, functions, 500 if args.quick else 5000, extractor,
                              reference))
  else:
    found.update(sr_measures(models))
  found.update(latency(name, models, 5 if args.quick else 20))
  return found


def markdown(results: dict) -> str:
  lines = [f'Mode: {results["mode"]}; timings from {results["machine"]}.', '',
           '| run | step | mode | weight bytes | max / mean abs difference from float32 | '
           'quality | ms per image, batch 1 | batch 64 |', '|---|---:|---|---:|---|---|---:|---:|']
  for name, m in results.get('runs', {}).items():
    sr = 'float32_psnr_y' in m
    for mode in MODES:
      weight_bytes = m['float32_weight_bytes' if mode == 'float32' else 'int8_weight_bytes']
      if mode == 'float32':
        difference = '-'
      elif sr:
        difference = f'{m[f"{mode}_max_abs_difference"]} / {m[f"{mode}_mean_abs_difference"]:.3f}'
      else:
        difference = (f'{m[f"{mode}_max_abs_difference"]:.2g} / '
                      f'{m[f"{mode}_mean_abs_difference"]:.2g}')
      quality = (f'PSNR-Y {m[f"{mode}_psnr_y"]:.3f} dB' if sr else
                 f'FID {m[f"{mode}_fid"]:.2f}, KID {m[f"{mode}_kid"]:.4f}')
      times = [f'{1e3 * m[f"{mode}_seconds_per_image_batch{b}"]:.3g}' for b in BATCHES]
      lines.append(f'| {name} | {m["step"]} | {mode} | {weight_bytes:,} | {difference} | '
                   f'{quality} | {times[0]} | {times[1]} |')
  lines += ['', 'Differences: DCGAN in [-1, 1] image units, SRResNet in uint8 levels.', '',
            'qwix 0.1.8 post-training rules, building the quantized model:', '']
  lines += [f'- {case}: {outcome}' for case, outcome in results.get('qwix_0.1.8', {}).items()]
  return '\n'.join(lines) + '\n'


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--quick', action='store_true', help='SRResNet 300 steps, 1000 samples, '
                      '5 timing repeats.')
  parser.add_argument('--root', default='/tmp/jaxgan_quantization', help='Where runs train.')
  parser.add_argument('--out', default=os.path.join(REPO, 'experiments', 'results'))
  parser.add_argument('--machine', default='a 2-core CPU shared with other jobs',
                      help='What the timings ran on, for the table.')
  args = parser.parse_args()
  os.makedirs(args.out, exist_ok=True)
  path = os.path.join(args.out, 'quantization.json')
  results = common.load_results(path)
  mode = 'quick' if args.quick else 'full'
  if results.get('mode') != mode:
    results = {'mode': mode}
  results.update(machine=args.machine, protocol=__doc__.split('Protocol, ')[1].split(
      'Results go')[0].strip(), versions={'jax': jax.__version__})
  results['qwix_0.1.8'] = qwix_probe()
  workdirs = {name: common.train_run(name, config, flags + (quick if args.quick else []),
                                     args.root, results, path)
              for name, (config, flags, quick) in RUNS.items()}
  extractor = sample_quality.InceptionFeatures(mesh_lib.make_mesh(jax.devices()[:1]), 50)
  dcgan_data = config_lib.load_config(os.path.join(REPO, 'configs', 'dcgan.py')).data
  reference = sample_quality.reference_features(dcgan_data, 'train', 0, extractor)
  for name, workdir in workdirs.items():
    if name not in results.setdefault('runs', {}):
      results['runs'][name] = measure(name, workdir, args, extractor, reference)
      common.save_results(results, path)
  with open(os.path.join(args.out, 'quantization.md'), 'w') as f:
    f.write(markdown(results))
  print(markdown(results))


if __name__ == '__main__':
  main()
