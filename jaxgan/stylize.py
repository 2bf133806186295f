"""Style transfer by optimizing the image (Gatys et al. 2016, arXiv:1508.06576).

  python -m jaxgan.stylize --content=photo.jpg --style=texture.png --output=out.png \\
      [--size=256] [--steps=300] [--optimizer=lbfgs|lbfgs_zoom|adam] [--init=content|noise] \\
      [--content_weight=1] [--style_weight=1] [--tv_weight=0] [--preserve_color] \\
      [--save_every=50]

The image is the only parameter; it minimizes jaxgan/style/objective.py's objective (content at
VGG16 relu4_2, style as Gram matrices at relu1_1 ... relu5_1, total variation; the module
docstring states the normalization) by L-BFGS (the paper's optimizer: unit steps without a line
search as torch.optim.LBFGS's default, or 'lbfgs_zoom' with optax's zoom line search, which
never raises the objective and costs about twice per iteration) or Adam, one jitted step with
the VGG16 weights as arguments (jaxgan/style/optimization.py). --style is an image file or the
name of a bundled photograph (jaxgan/data/image_sets.py: brick, gravel, hubble_deep_field, ...).
The content image is resized so its longer side is --size (0: as it is); the style image so
its longer side is --style_size (default --size). Images are RGB in [-1, 1]; the output is
clipped to it.

Console: the temporary memory of the compiled step (XLA's estimate of VGG16's activations and
their gradients for one image; on CPU 283 MiB at 256x256 and 1016 MiB at 512x512, growing with
the pixel count; experiments/style_transfer.py), then every --log_every
steps the step, the three terms, the total and steps/s. Written beside --output (OUT.png):
OUT.json with the curves (total of every iterate, the terms at logged ones, line-search
steps per lbfgs_zoom iteration), and with --save_every=k every k-th iterate as OUT_<step>.png.
Everything is checked before any computation; files are written atomically.
"""
import os

from absl import app
from absl import flags

from jaxgan import config_lib
from jaxgan import console
from jaxgan.data import image_files
from jaxgan.style import objective as style_transfer
from jaxgan.style import optimization as style_optimization

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command line's flags, defined when it runs (not on import: tools import together)."""
  flags.DEFINE_string('content', None, 'Content image file.')
  flags.DEFINE_string('style', None, 'Style image file or a bundled photograph name.')
  flags.DEFINE_string('output', None, 'Output .png file.')
  flags.DEFINE_integer('size', 256, "Content image's longer side in pixels (0: as is).")
  flags.DEFINE_integer('style_size', None, "Style image's longer side (default "
                       '--size; 0: as is).')
  flags.DEFINE_integer('steps', 300, 'Optimizer steps (L-BFGS iterations or Adam steps).')
  flags.DEFINE_enum('optimizer', 'lbfgs', style_optimization.OPTIMIZERS,
                    'L-BFGS (no line search), L-BFGS with a zoom line search, or Adam.')
  flags.DEFINE_float('learning_rate', 0.02, 'Adam step size ([-1, 1] pixels).')
  flags.DEFINE_enum('init', 'content', style_optimization.INITS,
                    'Start from the content image or noise.')
  flags.DEFINE_integer('seed', 0, 'Seed of the noise start.')
  default = style_transfer.DEFAULT
  flags.DEFINE_float('content_weight', default.content_weight,
                     'Weight of the content term.')
  flags.DEFINE_float('style_weight', default.style_weight,
                     'Weight of the style term.')
  flags.DEFINE_float('tv_weight', default.tv_weight,
                     'Weight of the total-variation term.')
  flags.DEFINE_list('content_layers', list(default.content_layers),
                    'VGG16 layers of the content term.')
  flags.DEFINE_list('style_layers', list(default.style_layers),
                    'VGG16 layers of the style term.')
  flags.DEFINE_boolean('preserve_color', False, 'Luminance-only transfer: keep '
                       "the content's colours (Gatys et al. 2017).")
  flags.DEFINE_integer('log_every', 10, 'Console and curve term interval in steps.')
  flags.DEFINE_integer('save_every', 0, 'Write every k-th iterate as PNG (0: off).')
  flags.mark_flags_as_required(['content', 'style', 'output'])


def main(argv):
  console.start_command(argv)
  objective = style_transfer.Objective(
      tuple(FLAGS.content_layers), tuple(FLAGS.style_layers), FLAGS.content_weight,
      FLAGS.style_weight, FLAGS.tv_weight)
  try:
    result = style_optimization.stylize_file(
        FLAGS.content, FLAGS.style, FLAGS.output, FLAGS.size, FLAGS.style_size,
        FLAGS.steps, objective, FLAGS.save_every, optimizer=FLAGS.optimizer,
        learning_rate=FLAGS.learning_rate, init=FLAGS.init, seed=FLAGS.seed,
        preserve_color=FLAGS.preserve_color, log_every=max(1, FLAGS.log_every))
  except config_lib.ConfigError as e:
    console.fatal(e, console.EXIT_CONFIG_ERROR)
  except image_files.ImageFileError as e:
    console.fatal(e, console.EXIT_RUN_ERROR)
  print(f'Wrote {os.path.abspath(FLAGS.output)} ({result.image.shape[1]}x{result.image.shape[0]}) and '
        f'{os.path.splitext(os.path.abspath(FLAGS.output))[0]}.json.')


if __name__ == '__main__':
  define_flags()
  app.run(main)
