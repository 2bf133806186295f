"""DCGAN on the bundled MNIST digits: the TensorFlow DCGAN tutorial architecture.

Radford et al. 2015 (arXiv:1511.06434), in the form of the TensorFlow tutorial
(tensorflow.org/tutorials/generative/dcgan): non-saturating loss, Adam(2e-4, b1=0.5)
for both networks, one D step then one G step per train step, batch 64.

Usage:
  python -m jaxgan.main --config=configs/dcgan.py --workdir=/tmp/dcgan
  python -m jaxgan.main --config=configs/dcgan.py:cifar10 --workdir=/tmp/dcgan_cifar
The optional argument after ':' picks a dataset preset: mnist_5k (default), cifar10, celeb_a.
"""
import ml_collections

from jaxgan import config_lib

blocks = config_lib.sibling_module(__file__, 'blocks')

_DATASET_PRESETS = {
    # name: (image_size, channels, generator_widths, discriminator_widths)
    'mnist_5k': (28, 1, (256, 128, 64), (64, 128)),
    'mnist': (28, 1, (256, 128, 64), (64, 128)),
    'cifar10': (32, 3, (256, 128, 64), (64, 128, 256)),
    'celeb_a': (64, 3, (512, 256, 128, 64), (64, 128, 256, 512)),
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the locked DCGAN config; `arg` names a dataset preset."""
  dataset = arg or 'mnist_5k'
  if dataset not in _DATASET_PRESETS:
    raise config_lib.ConfigError(
        f"Unknown dcgan preset {dataset!r} (the part after ':' in --config); choose "
        f'one of {sorted(_DATASET_PRESETS)}.')
  image_size, channels, g_widths, d_widths = _DATASET_PRESETS[dataset]

  config = ml_collections.ConfigDict()
  config.seed = 0
  config.family = 'gan'

  config.data = blocks.data(dataset, image_size, channels, resize=dataset == 'celeb_a')

  config.model = ml_collections.ConfigDict()
  config.model.name = 'dcgan'
  config.model.latent_dim = 100
  # Generator: Dense to (image_size / 2**(len-1))^2 x widths[0], a stride-1 ConvTranspose to
  # widths[1], then stride-2 ConvTransposes through widths[2:] and to `channels` (tanh).
  config.model.generator_widths = g_widths
  # Discriminator: one stride-2 conv per width, LeakyReLU and dropout after each, then Dense(1).
  config.model.discriminator_widths = d_widths
  config.model.kernel_size = 5
  config.model.leaky_relu_slope = 0.2
  config.model.dropout_rate = 0.3
  config.model.batch_norm_momentum = 0.99
  config.model.batch_norm_epsilon = 1e-3
  # GAN-zoo axes (jaxgan/families/gan.py); the DCGAN reference is unconditional, float32.
  config.model.conditioning = 'none'  # or 'projection' / 'auxiliary' (class-conditional)
  config.model.num_classes = 0 if dataset == 'celeb_a' else 10
  config.model.compute_dtype = 'float32'  # or 'bfloat16' (params, losses stay float32)

  config.gan = ml_collections.ConfigDict()
  config.gan.loss = 'non_saturating'
  config.gan.penalty = 'none'  # or 'weight_clipping' / 'wgan_gp' / 'dragan' / 'r1'
  config.gan.penalty_weight = 0.0
  config.gan.penalty_interval = 1  # lazy regularization: penalize every k-th D update only
  config.gan.clip_value = 0.0  # for penalty='weight_clipping'
  config.gan.n_critic = 1  # D updates per step, each on batch_size / n_critic real images
  config.gan.classifier_weight = 1.0  # AC-GAN class loss weight (conditioning='auxiliary')
  config.gan.augment = ''  # DiffAugment policy, e.g. 'color,translation,cutout'
  config.gan.orthogonal_weight = 0.0  # BigGAN's orthogonal regularization of G's kernels

  config.optim = ml_collections.ConfigDict()
  for network in ('generator', 'discriminator'):
    # eps: Keras' Adam default, as in the tutorial.
    config.optim[network] = blocks.adam(learning_rate=2e-4, b1=0.5, b2=0.999, eps=1e-7)

  config.mesh = blocks.mesh()
  config.train = blocks.train(num_steps=3000, batch_size=64, log_every=100, checkpoint_every=500,
                              keep_checkpoints=3, sample_every=500, num_sample_images=64)

  # Evaluation (jaxgan/evaluation/), one block per evaluator, config.eval.<name>, its `type`
  # picks it: here the sample quality of the EMA generator against the training split.
  config.eval = blocks.sample_quality_eval(
      every_steps=0, num_samples=5000 if dataset == 'mnist_5k' else 10000)

  config.lock()
  return config
