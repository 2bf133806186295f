"""Progressive growing of GANs (Karras et al. 2018, arXiv:1710.10196): 4x4 -> ... -> 32x32.

The paper's method (sec. 2-4, appendix A.1) with its CIFAR-10 hyperparameters: WGAN-GP
(lambda 10) plus the drift term 1e-3 * D(real)^2, one D update per G update, Adam(1e-3, b1=0,
b2=0.99, eps=1e-8) reset at every new resolution, G's EMA with decay 0.999, equalized learning
rate, pixelwise feature normalization in G, minibatch stddev (groups of 4) in D, nearest
upsampling / average-pool downsampling, fade-in over the first half of each phase. Every one of
these is a field here, so the paper's ablation is a flag.

Scaled for a CPU (the paper's numbers in brackets): widths 32-64 [512 up to 32x32], latent
128 [512], 1,000 G updates of batch 32 per phase [800k real images of fade-in + 800k of
stabilization per resolution, minibatch 16]. Fields that follow others unless set:
`train.num_steps` (steps_per_phase x the number of resolutions), `data.image_size` (the last
resolution) and `model.features` (a width per resolution from `model.feature_base` and
`model.max_features`), so a shorter growth for an ablation is one flag:
  python -m jaxgan.main --config=configs/progan.py --config.progan.resolutions='(4, 8, 16)' ...

  python -m jaxgan.main --config=configs/progan.py --workdir=/tmp/progan
  python -m jaxgan.main --config=configs/progan.py:cifar10 --workdir=/tmp/progan_cifar
  python -m jaxgan.main --config=configs/progan.py --config.progan.progressive=False ...  # baseline
The optional argument after ':' picks a dataset preset: mnist_5k (default, 28x28 digits padded
to 32x32), cifar10, celeb_a (64x64).
"""
import ml_collections

from jaxgan import config_lib

blocks = config_lib.sibling_module(__file__, 'blocks')

_PRESETS = {
    # name: (resolutions, channels, data.resize, data.pad, model.feature_base, max_features):
    # widths (64, 64, 64, 32), (128,) * 4 and (128, 128, 128, 128, 64)
    'mnist_5k': ((4, 8, 16, 32), 1, False, True, 1024, 64),
    'cifar10': ((4, 8, 16, 32), 3, False, False, 4096, 128),
    'celeb_a': ((4, 8, 16, 32, 64), 3, True, False, 4096, 128),
}


def widths(resolutions: tuple, feature_base: int, max_features: int) -> tuple:
  """G's and D's width at each resolution r: min(max_features, feature_base / r), the paper's
  rule (fmap_base / fmap_max of the official code: halve the width as the side doubles)."""
  return tuple(min(max_features, feature_base // r) for r in resolutions)


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the locked ProGAN config; `arg` names a dataset preset."""
  dataset = arg or 'mnist_5k'
  if dataset not in _PRESETS:
    raise config_lib.ConfigError(
        f"Unknown progan preset {dataset!r} (the part after ':' in --config); choose one of "
        f'{sorted(_PRESETS)}.')
  resolutions, channels, resize, pad, feature_base, max_features = _PRESETS[dataset]

  config = ml_collections.ConfigDict()
  config.seed = 0
  config.family = 'progan'
  config.progan = ml_collections.ConfigDict()
  config.progan.resolutions = resolutions
  schedule = config.progan.get_ref('resolutions')

  config.data = blocks.data(dataset, resolutions[-1], channels, resize=resize)
  # The last resolution, unless set (a shorter schedule trains at its own last size).
  config.data.image_size = config_lib.derived(lambda r: r[-1], int, schedule)
  # MNIST's 28x28 digits, zero-padded (centred) to 32x32; at a smaller image_size, padded to
  # 32x32 and box-filtered down, as the phases of the full schedule see them.
  config.data.pad = pad

  config.model = ml_collections.ConfigDict()
  config.model.latent_dim = 128
  config.model.feature_base = feature_base
  config.model.max_features = max_features
  # G's and D's width at each resolution: widths(), unless set.
  config.model.features = config_lib.derived(
      widths, tuple, schedule, config.model.get_ref('feature_base'),
      config.model.get_ref('max_features'))
  config.model.equalized_lr = True  # N(0, 1) weights scaled at run time by He's constant
  config.model.pixel_norm = True  # pixelwise feature vector normalization in G
  config.model.normalize_latents = True  # z / rms(z); the official code keeps it without PN
  config.model.minibatch_stddev = True  # D's extra feature: stddev over groups of examples
  config.model.minibatch_group_size = 4
  config.model.leaky_relu_slope = 0.2

  config.progan.steps_per_phase = 1000  # G updates per resolution, fade-in included
  config.progan.fade_fraction = 0.5  # alpha 0 -> 1 over this part of a phase (0: no fade-in)
  config.progan.batch_sizes = ()  # one per resolution; (): config.train.batch_size everywhere
  config.progan.progressive = True  # False: the final networks trained at full size throughout
  config.progan.reset_optimizer = True  # fresh Adam moments at every new resolution
  # Real images flipped left-right with probability 1/2 (the official code's mirror_augment,
  # used for CelebA-HQ; off for digits, which flipping turns into other glyphs).
  config.progan.mirror_augment = False

  config.gan = ml_collections.ConfigDict()
  config.gan.loss = 'wasserstein'
  config.gan.penalty = 'wgan_gp'
  config.gan.penalty_weight = 10.0
  config.gan.drift_weight = 1e-3  # epsilon_drift
  config.gan.clip_value = 0.0  # read by penalties.get for weight clipping only

  config.optim = ml_collections.ConfigDict()
  for network in ('generator', 'discriminator'):
    config.optim[network] = blocks.adam(learning_rate=1e-3, b1=0.0, b2=0.99, eps=1e-8)

  config.mesh = blocks.mesh()
  config.train = blocks.train(num_steps=0, batch_size=32, log_every=100, checkpoint_every=500,
                              keep_checkpoints=3, sample_every=1000, num_sample_images=64,
                              ema_decay=0.999)
  # The whole schedule by default; a flag on train.num_steps stops earlier.
  config.train.num_steps = config.progan.get_ref('steps_per_phase') * config_lib.derived(
      len, int, schedule)

  # FID / KID of the EMA generator at every phase end (the trainer evaluates phase ends), with
  # the GAN zoo's CPU protocol: 1,000 samples against the training split.
  config.eval = blocks.sample_quality_eval(every_steps=0, num_samples=1000,
                                          metrics=('fid', 'kid'))
  # A derived reference (x 1): setting eval.every_steps must not set steps_per_phase.
  config.eval.every_steps = config.progan.get_ref('steps_per_phase') * 1

  config.lock()
  return config
