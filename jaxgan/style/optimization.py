"""Style transfer by optimizing the image (Gatys et al. 2016, arXiv:1508.06576): the library
behind `python -m jaxgan.stylize` (see there for the outputs).

The image is the only parameter; it minimizes jaxgan/style/objective.py's objective by L-BFGS (the
paper's optimizer; optax, with or without a line search) or Adam, one jitted step with the VGG16
weights as arguments. The step is compiled ahead of time, so its temporary memory (XLA's estimate)
is known before the first iteration.
"""
import json
import os
import time
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxgan import config_lib
from jaxgan.data import image_files
from jaxgan.data import images as image_lib
from jaxgan.pretrained import vgg16
from jaxgan.style import objective as style_transfer

OPTIMIZERS = ('lbfgs', 'lbfgs_zoom', 'adam')
INITS = ('content', 'noise')

class Result(NamedTuple):
  image: np.ndarray  # uint8 [H, W, 3]
  curves: dict  # see the module docstring


def _optimizer(name: str, learning_rate: float) -> optax.GradientTransformationExtraArgs:
  """'lbfgs': unit steps along the L-BFGS direction (history 10), no line search, as
  torch.optim.LBFGS's default that the reference implementations use; 'lbfgs_zoom': with
  optax's zoom line search (strong Wolfe; never raises the objective, about twice the time per
  iteration here); 'adam'."""
  if name == 'lbfgs':
    return optax.lbfgs(learning_rate=1.0, linesearch=None)
  if name == 'lbfgs_zoom':
    return optax.lbfgs(linesearch=optax.scale_by_zoom_linesearch(max_linesearch_steps=20))
  return optax.adam(learning_rate)


def make_step(objective: style_transfer.Objective, optimizer: str, learning_rate: float
              ) -> tuple[Callable, Callable, Callable]:
  """(init, step, terms) of the optimization, pure functions of the VGG16 weights:
    init(x) -> optimizer state
    step(vgg, x, opt_state, contents, grams) -> (x', opt_state', total at x, line-search
        steps; 0 without a line search)
    terms(vgg, x, contents, grams) -> the objective's terms at x ([1] arrays)."""
  transform = _optimizer(optimizer, learning_rate)

  def terms(vgg, x, contents, grams):
    return style_transfer.losses(vgg, objective, x, contents, grams)

  def step(vgg, x, opt_state, contents, grams):
    value_fn = lambda image: terms(vgg, image, contents, grams)['total'][0]
    if optimizer == 'lbfgs_zoom':  # the line search caches the value and gradient at the new x
      value, grad = optax.value_and_grad_from_state(value_fn)(x, state=opt_state)
      updates, opt_state = transform.update(grad, opt_state, x, value=value, grad=grad,
                                            value_fn=value_fn)
      line_search_steps = optax.tree_utils.tree_get(opt_state, 'num_linesearch_steps')
    else:
      value, grad = jax.value_and_grad(value_fn)(x)
      updates, opt_state = transform.update(grad, opt_state, x, value=value, grad=grad,
                                            value_fn=value_fn)
      line_search_steps = jnp.zeros((), jnp.int32)
    return optax.apply_updates(x, updates), opt_state, value, line_search_steps

  return transform.init, step, terms


def optimize(vgg, content: np.ndarray, style: np.ndarray, objective: style_transfer.Objective,
             steps: int, optimizer: str = 'lbfgs', learning_rate: float = 0.02,
             init: str = 'content', seed: int = 0, preserve_color: bool = False,
             log_every: int = 10, on_iterate: Callable | None = None, iterate_every: int = 1,
             quiet: bool = False) -> Result:
  """Stylizes `content` (uint8 [H, W, 3]) with `style` (uint8 [h, w, 3]) in `steps` steps.

  `on_iterate(step, image uint8)` is called after every `iterate_every`-th step (--save_every;
  only then is the iterate brought to the host as an image); the console
  shows the terms every `log_every` steps unless `quiet`.
  """
  content_x = jnp.asarray(image_lib.normalize_images(content[None]))
  style_x = jnp.asarray(image_lib.normalize_images(style[None]))
  if preserve_color:
    content_x, style_x = style_transfer.luminance_images(content_x, style_x)
    rgb_content = jnp.asarray(image_lib.normalize_images(content[None]))
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
  memory_mib = None if memory is None else memory.temp_size_in_bytes / 2**20
  if not quiet and memory is not None:
    print(f'Compiled in {time.perf_counter() - started:.1f} s; the step needs '
          f'{memory_mib:.0f} MiB of temporary memory ({x.shape[2]}x{x.shape[1]} px).',
          flush=True)

  def output(image) -> np.ndarray:
    if preserve_color:
      image = style_transfer.with_content_colour(image, rgb_content)[0]
    else:
      image = jnp.clip(image[0], -1.0, 1.0)
    return image_lib.to_uint8(np.asarray(image))

  curves = {'total': [], 'line_search_steps': [], 'logged_steps': [],
            **{name: [] for name in style_transfer.TERMS}, 'seconds': [],
            'step_memory_mib': memory_mib}

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
    x, opt_state, value, line_search_steps = step(vgg, x, opt_state, contents, grams)
    curves['total'].append(float(value))
    curves['line_search_steps'].append(int(line_search_steps))
    curves['seconds'].append(time.perf_counter() - started)
    if on_iterate is not None and (i + 1) % iterate_every == 0:
      on_iterate(i + 1, output(x))
  curves['total'].append(log(steps))
  return Result(output(x), curves)


def stylize_file(content_path: str, style: str, output_path: str, size: int = 256,
                 style_size: int | None = None, steps: int = 300,
                 objective: style_transfer.Objective | None = None, save_every: int = 0,
                 **options) -> Result:
  """The command line's work: checks everything, optimizes, writes OUT.png, OUT.json and the
  iterates (see the module docstring). `options` go to `optimize`."""
  objective = objective or style_transfer.DEFAULT
  try:
    objective.check()
  except ValueError as e:
    raise config_lib.ConfigError(str(e)) from None
  for name, value, choices in (('optimizer', options.get('optimizer', 'lbfgs'), OPTIMIZERS),
                                ('init', options.get('init', 'content'), INITS)):
    if value not in choices:
      raise config_lib.ConfigError(f'--{name}={value!r}: choose one of {choices}.')
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
  content = style_transfer.resize_longer_side(image_files.read_image(content_path, 3), size)
  style_image = style_transfer.resize_longer_side(
      style_transfer.read_style(style), size if style_size is None else style_size)
  style_transfer.check_size(content, 'content', 'pass a larger --size')
  style_transfer.check_size(style_image, 'style', 'pass a larger --style_size')
  stem = os.path.splitext(output_path)[0]
  on_iterate = None
  if save_every:
    on_iterate = lambda i, image: image_lib.save_png(image, f'{stem}_{i:05d}.png')
  result = optimize(vgg16.load_params(), content, style_image, objective, steps,
                    on_iterate=on_iterate, iterate_every=max(1, save_every), **options)
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
