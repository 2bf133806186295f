"""Style transfer by optimizing the image (Gatys et al. 2016, arXiv:1508.06576).

  python -m jaxgan.stylize --content=photo.jpg --style=texture.png --output=out.png \\
      [--size=256] [--steps=300] [--optimizer=lbfgs|adam] [--init=content|noise] \\
      [--content_weight=1] [--style_weight=1e5] [--tv_weight=0] [--preserve_color] \\
      [--save_every=50]

The image is the only parameter; it minimizes jaxgan/style_transfer.py's objective (content at
VGG16 relu4_2, style as Gram matrices at relu1_1 ... relu5_1, total variation; the module
docstring states the normalization) by L-BFGS (optax, zoom line search; the paper's optimizer)
or Adam, one jitted step with the VGG16 weights as arguments. --style is an image file or the
name of a bundled photograph (jaxgan/image_sets.py: brick, gravel, hubble_deep_field, ...).
The content image is resized so its longer side is --size (0: as it is); the style image so
its longer side is --style_size (default --size). Images are RGB in [-1, 1]; the output is
clipped to it.

Console: the temporary memory of the compiled step (XLA's estimate; VGG16 activations of one
image and their gradients: about 50 MiB at 256 px and 4x that at 512), then every --log_every
steps the step, the three terms, the total and steps/s. Written beside --output (OUT.png):
OUT.json with the curves (total of every iterate, the terms at logged ones, line-search
evaluations per L-BFGS step), and with --save_every=k every k-th iterate as OUT_<step>.png.
Everything is checked before any computation; files are written atomically.
"""
import json
import os
import time
from typing import Callable, NamedTuple

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np
import optax
from PIL import Image

from jaxgan import config_lib
from jaxgan import console
from jaxgan import image_sets
from jaxgan import image_files
from jaxgan import images as image_lib
from jaxgan import platform
from jaxgan import style_transfer
from jaxgan.pretrained import vgg16

OPTIMIZERS = ('lbfgs', 'adam')
INITS = ('content', 'noise')

_CONTENT = flags.DEFINE_string('content', None, 'Content image file.')
_STYLE = flags.DEFINE_string('style', None, 'Style image file or a bundled photograph name.')
_OUTPUT = flags.DEFINE_string('output', None, 'Output .png file.')
_SIZE = flags.DEFINE_integer('size', 256, "Content image's longer side in pixels (0: as is).")
_STYLE_SIZE = flags.DEFINE_integer('style_size', None, "Style image's longer side (default "
                                   '--size; 0: as is).')
_STEPS = flags.DEFINE_integer('steps', 300, 'Optimizer steps (L-BFGS iterations or Adam steps).')
_OPTIMIZER = flags.DEFINE_enum('optimizer', 'lbfgs', OPTIMIZERS, 'L-BFGS or Adam.')
_LEARNING_RATE = flags.DEFINE_float('learning_rate', 0.02, 'Adam step size ([-1, 1] pixels).')
_INIT = flags.DEFINE_enum('init', 'content', INITS, 'Start from the content image or noise.')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of the noise start.')
_CONTENT_WEIGHT = flags.DEFINE_float('content_weight', 1.0, 'Weight of the content term.')
_STYLE_WEIGHT = flags.DEFINE_float('style_weight', 1e5, 'Weight of the style term.')
_TV_WEIGHT = flags.DEFINE_float('tv_weight', 0.0, 'Weight of the total-variation term.')
_CONTENT_LAYERS = flags.DEFINE_list('content_layers', list(style_transfer.GATYS_CONTENT_LAYERS),
                                   'VGG16 layers of the content term.')
_STYLE_LAYERS = flags.DEFINE_list('style_layers', list(style_transfer.GATYS_STYLE_LAYERS),
                                  'VGG16 layers of the style term.')
_PRESERVE_COLOR = flags.DEFINE_boolean('preserve_color', False, 'Luminance-only transfer: keep '
                                       "the content's colours (Gatys et al. 2017).")
_LOG_EVERY = flags.DEFINE_integer('log_every', 10, 'Console and curve term interval in steps.')
_SAVE_EVERY = flags.DEFINE_integer('save_every', 0, 'Write every k-th iterate as PNG (0: off).')
flags.mark_flags_as_required(['content', 'style', 'output'])


class Result(NamedTuple):
  image: np.ndarray  # uint8 [H, W, 3]
  curves: dict  # see the module docstring


def resize_longer_side(image: np.ndarray, side: int) -> np.ndarray:
  """uint8 [H, W, C] resized (PIL bicubic) so that its longer side is `side`; 0: unchanged."""
  height, width = image.shape[:2]
  if not side or max(height, width) == side:
    return image
  scale = side / max(height, width)
  size = (max(1, round(width * scale)), max(1, round(height * scale)))
  channels = [np.asarray(Image.fromarray(image[..., c]).resize(size, Image.BICUBIC))
              for c in range(image.shape[-1])]
  return np.stack(channels, axis=-1)


def read_style(name_or_path: str, channels: int = 3) -> np.ndarray:
  """uint8 [H, W, channels] of an image file or a bundled photograph's name."""
  bundled = {**image_sets.PHOTOS_TRAIN, **image_sets.PHOTOS_TEST}
  if name_or_path in bundled and not os.path.exists(name_or_path):
    return image_sets.photo(name_or_path, channels)
  if not os.path.isfile(name_or_path):
    raise config_lib.ConfigError(f'Style {name_or_path!r} is neither an image file nor a bundled '
                                 f'photograph ({", ".join(sorted(bundled))}).')
  return image_files.read_image(name_or_path, channels)


def check_size(image: np.ndarray, what: str) -> None:
  """A ConfigError for an image too small for the deepest VGG16 pool (16 px)."""
  if min(image.shape[:2]) < 16:
    raise config_lib.ConfigError(f'The {what} image is {image.shape[1]}x{image.shape[0]}: '
                                 'style transfer needs both sides >= 16 (pass a larger --size).')


def _optimizer(name: str, learning_rate: float) -> optax.GradientTransformationExtraArgs:
  if name == 'lbfgs':
    return optax.lbfgs(linesearch=optax.scale_by_zoom_linesearch(max_linesearch_steps=20))
  return optax.adam(learning_rate)


def make_step(objective: style_transfer.Objective, optimizer: str, learning_rate: float
              ) -> tuple[Callable, Callable, Callable]:
  """(init, step, terms) of the optimization, pure functions of the VGG16 weights:
    init(x) -> optimizer state
    step(vgg, x, opt_state, contents, grams) -> (x', opt_state', total at x, line-search
        evaluations; 0 for Adam)
    terms(vgg, x, contents, grams) -> the objective's terms at x ([1] arrays)."""
  transform = _optimizer(optimizer, learning_rate)

  def terms(vgg, x, contents, grams):
    return style_transfer.losses(vgg, objective, x, contents, grams)

  def step(vgg, x, opt_state, contents, grams):
    value_fn = lambda image: terms(vgg, image, contents, grams)['total'][0]
    if optimizer == 'lbfgs':  # the line search caches the value and gradient at the new x
      value, grad = optax.value_and_grad_from_state(value_fn)(x, state=opt_state)
      updates, opt_state = transform.update(grad, opt_state, x, value=value, grad=grad,
                                            value_fn=value_fn)
      evaluations = optax.tree_utils.tree_get(opt_state, 'num_linesearch_steps')
    else:
      value, grad = jax.value_and_grad(value_fn)(x)
      updates, opt_state = transform.update(grad, opt_state, x)
      evaluations = jnp.zeros((), jnp.int32)
    return optax.apply_updates(x, updates), opt_state, value, evaluations

  return transform.init, step, terms


def optimize(vgg, content: np.ndarray, style: np.ndarray, objective: style_transfer.Objective,
             steps: int, optimizer: str = 'lbfgs', learning_rate: float = 0.02,
             init: str = 'content', seed: int = 0, preserve_color: bool = False,
             log_every: int = 10, on_iterate: Callable | None = None,
             quiet: bool = False) -> Result:
  """Stylizes `content` (uint8 [H, W, 3]) with `style` (uint8 [h, w, 3]) in `steps` steps.

  `on_iterate(step, image uint8)` is called after each step (for --save_every); the console
  shows the terms every `log_every` steps unless `quiet`.
  """
  content_x = jnp.asarray(content[None], jnp.float32) / 127.5 - 1
  style_x = jnp.asarray(style[None], jnp.float32) / 127.5 - 1
  if preserve_color:
    content_x, style_x = style_transfer.luminance_images(content_x, style_x)
    rgb_content = jnp.asarray(content[None], jnp.float32) / 127.5 - 1
  contents = style_transfer.content_targets(vgg, objective, content_x)
  grams = style_transfer.style_targets(vgg, objective, style_x)
  x = content_x
  if init == 'noise':
    x = jax.random.uniform(jax.random.key(seed), content_x.shape, minval=-1.0, maxval=1.0)
  opt_init, step_fn, terms_fn = make_step(objective, optimizer, learning_rate)
  opt_state = opt_init(x)
  started = time.perf_counter()
  step = jax.jit(step_fn).lower(vgg, x, opt_state, contents, grams).compile()
  terms = jax.jit(terms_fn)
  memory = step.memory_analysis()
  if not quiet and memory is not None:
    print(f'Compiled in {time.perf_counter() - started:.1f} s; the step needs '
          f'{memory.temp_size_in_bytes / 2**20:.0f} MiB of temporary memory '
          f'({x.shape[2]}x{x.shape[1]} px).', flush=True)

  def output(image):
    if preserve_color:
      return image_lib.to_uint8(style_transfer.with_content_colour(image, rgb_content)[0])
    return image_lib.to_uint8(jnp.clip(image[0], -1.0, 1.0))

  curves = {'total': [], 'evaluations': [], 'logged_steps': [],
            **{name: [] for name in style_transfer.TERMS}, 'seconds': []}

  def log(i):
    values = {k: float(v[0]) for k, v in terms(vgg, x, contents, grams).items()}
    curves['logged_steps'].append(i)
    for name in style_transfer.TERMS:
      curves[name].append(values[name])
    if not quiet:
      rate = i / max(time.perf_counter() - started, 1e-9)
      print(f'step {i:5d}  content {values["content_loss"]:.4g}  style '
            f'{values["style_loss"]:.4g}  tv {values["tv_loss"]:.4g}  total '
            f'{values["total"]:.6g}  {rate:.2f} steps/s', flush=True)
    return values['total']

  started = time.perf_counter()
  for i in range(steps):
    if i % log_every == 0:
      log(i)
    x, opt_state, value, evaluations = step(vgg, x, opt_state, contents, grams)
    curves['total'].append(float(value))
    curves['evaluations'].append(int(evaluations))
    curves['seconds'].append(time.perf_counter() - started)
    if on_iterate is not None:
      on_iterate(i + 1, output(x))
  curves['total'].append(log(steps))
  return Result(output(x), curves)


def stylize_file(content_path: str, style: str, output_path: str, size: int = 256,
                 style_size: int | None = None, steps: int = 300,
                 objective: style_transfer.Objective | None = None, save_every: int = 0,
                 **options) -> Result:
  """The command line's work: checks everything, optimizes, writes OUT.png, OUT.json and the
  iterates (see the module docstring). `options` go to `optimize`."""
  objective = objective or style_transfer.Objective(
      style_transfer.GATYS_CONTENT_LAYERS, style_transfer.GATYS_STYLE_LAYERS, 1.0, 1e5, 0.0)
  try:
    objective.check()
  except ValueError as e:
    raise config_lib.ConfigError(str(e)) from None
  if not output_path.lower().endswith('.png'):
    raise config_lib.ConfigError(f'--output={output_path} must be a .png file.')
  if steps < 1 or size < 0 or (style_size or 0) < 0 or save_every < 0:
    raise config_lib.ConfigError('--steps must be >= 1 and --size, --style_size, --save_every '
                                 '>= 0.')
  if not os.path.isfile(content_path):
    raise config_lib.ConfigError(f'--content={content_path} is not a file.')
  image_files.check_images([content_path], 3)
  if os.path.exists(output_path) and os.path.samefile(content_path, output_path):
    raise config_lib.ConfigError(f'--output={output_path} would overwrite the content image.')
  content = resize_longer_side(image_files.read_image(content_path, 3), size)
  if os.path.isfile(style):
    image_files.check_images([style], 3)
  style_image = resize_longer_side(read_style(style), size if style_size is None else style_size)
  check_size(content, 'content')
  check_size(style_image, 'style')
  stem = os.path.splitext(output_path)[0]
  on_iterate = None
  if save_every:
    on_iterate = lambda i, image: (image_lib.save_png(image, f'{stem}_{i:05d}.png')
                                   if i % save_every == 0 else None)
  result = optimize(vgg16.load_params(), content, style_image, objective, steps,
                    on_iterate=on_iterate, **options)
  image_lib.save_png(result.image, output_path)
  _write_json({'content': content_path, 'style': style, 'size': list(content.shape[:2]),
               'steps': steps, 'objective': objective._asdict(), **{
                   k: v for k, v in options.items() if k != 'quiet'}, 'curves': result.curves},
              stem + '.json')
  return result


def _write_json(payload: dict, path: str) -> None:
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    json.dump(payload, f, indent=1)
  os.replace(tmp, path)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  console.quiet_library_logs()
  platform.use_default_xla_flags()
  objective = style_transfer.Objective(
      tuple(_CONTENT_LAYERS.value), tuple(_STYLE_LAYERS.value), _CONTENT_WEIGHT.value,
      _STYLE_WEIGHT.value, _TV_WEIGHT.value)
  try:
    result = stylize_file(
        _CONTENT.value, _STYLE.value, _OUTPUT.value, _SIZE.value, _STYLE_SIZE.value,
        _STEPS.value, objective, _SAVE_EVERY.value, optimizer=_OPTIMIZER.value,
        learning_rate=_LEARNING_RATE.value, init=_INIT.value, seed=_SEED.value,
        preserve_color=_PRESERVE_COLOR.value, log_every=max(1, _LOG_EVERY.value))
  except config_lib.ConfigError as e:
    console.fatal(e, console.EXIT_CONFIG_ERROR)
  except image_files.ImageFileError as e:
    console.fatal(e, console.EXIT_RUN_ERROR)
  print(f'Wrote {_OUTPUT.value} ({result.image.shape[1]}x{result.image.shape[0]}) and '
        f'{os.path.splitext(_OUTPUT.value)[0]}.json.')


if __name__ == '__main__':
  app.run(main)
