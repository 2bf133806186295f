"""Gated PixelCNN on the bundled MNIST digits (van den Oord et al. 2016, arXiv:1606.05328).

8-bit grayscale digits with the paper's 256-way softmax per pixel; `:cifar10` switches to
PixelCNN++'s discretized logistic mixture (Salimans et al. 2017, arXiv:1701.05517) for colour.
The width and depth are small enough to train on a CPU; the paper's models use 15-20 layers.

Usage:
  python -m jaxgan.main --config=configs/pixelcnn.py --workdir=/tmp/pixelcnn
  python -m jaxgan.main --config=configs/pixelcnn.py --config.pixelcnn.likelihood=logistic_mixture \\
      --workdir=/tmp/pixelcnn_mix
  python -m jaxgan.main --config=configs/pixelcnn.py:cifar10 --workdir=/tmp/pixelcnn_cifar
"""
import ml_collections

from jaxgan import config_lib

blocks = config_lib.sibling_module(__file__, 'blocks')

_DATASET_PRESETS = {
    # name: (image_size, channels, likelihood)
    'mnist_5k': (28, 1, 'categorical'),
    'mnist': (28, 1, 'categorical'),
    'cifar10': (32, 3, 'logistic_mixture'),
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the locked PixelCNN config; `arg` names a dataset preset."""
  dataset = arg or 'mnist_5k'
  if dataset not in _DATASET_PRESETS:
    raise config_lib.ConfigError(
        f"Unknown pixelcnn preset {dataset!r} (the part after ':' in --config); choose "
        f'one of {sorted(_DATASET_PRESETS)}.')
  image_size, channels, likelihood = _DATASET_PRESETS[dataset]

  config = ml_collections.ConfigDict()
  config.seed = 0
  config.family = 'pixelcnn'

  config.data = blocks.data(dataset, image_size, channels)

  config.model = ml_collections.ConfigDict()
  config.model.features = 32  # channels of each stack
  config.model.num_layers = 6  # gated layers, the first one masked 'A'
  config.model.kernel_size = 3  # vertical (k//2 + 1) x k, horizontal 1 x (k//2 + 1)
  config.model.first_kernel_size = 7  # the mask-A input layer's, as in the paper
  config.model.output_hidden = 64  # ReLU -> 1x1 conv -> ReLU -> 1x1 conv to the outputs

  config.pixelcnn = ml_collections.ConfigDict()
  config.pixelcnn.likelihood = likelihood  # 'categorical' (grayscale) or 'logistic_mixture'
  config.pixelcnn.num_mixtures = 5  # logistic_mixture only (PixelCNN++ uses 10)

  config.optim = ml_collections.ConfigDict()
  config.optim.model = blocks.adam(learning_rate=1e-3, b1=0.9, b2=0.999, eps=1e-8)

  # Sampling costs H * W network passes, hence the rare, small grids.
  config.mesh = blocks.mesh()
  config.train = blocks.train(num_steps=1000, batch_size=32, log_every=50, checkpoint_every=500,
                              keep_checkpoints=2, sample_every=1000, num_sample_images=16)

  # Exact held-out likelihood on the whole test split.
  config.eval = blocks.likelihood_eval(every_steps=500)

  config.lock()
  return config
