"""CycleGAN (Zhu et al. 2017, arXiv:1703.10593) on offline unpaired tasks whose truth is known.

ResNet generators (c7s1-k, two stride-2 downsamplings, residual blocks, two upsamplings, c7s1;
reflection padding, instance norm), PatchGAN discriminators, least-squares GAN loss, cycle
consistency (L1) weight 10, identity loss 0.5 x that, a pool of 50 generated images per
discriminator, Adam(2e-4, 0.5, 0.999) constant for the first half of the steps then linearly
decayed to 0, as in the paper. jaxgan's least-squares G loss is 0.5 E[(D(G(x)) - 1)^2], half the
reference's, so adversarial_weight 2 restores the reference's balance against the cycle term.
Widths, residual blocks and image sizes are sized for a 2-core CPU (the paper: 64 filters, 6
blocks at 128x128 and 9 at 256x256, batch 1, 200 epochs).

Presets (the part after ':'):
  digits       A = scikit-learn's 8x8 digits drawn in MNIST's frame (data.mnist_frame: scaled,
               resized to MNIST's 20x20 box, centred by mass in 28x28), B = mnist_5k; both
               zero-padded to 32x32. Held out: 500 test digits of each (their own test splits).
               Labels are never used in training; experiments/cyclegan.py scores label
               preservation with a classifier trained on mnist_5k.
  mri          A = T1 slices, B = grey-matter probability maps of the MNI152 template (nilearn
               0.14.1, voxel-aligned), 64x64 random crops of slices z 30-79 and 105-149, each
               domain in its own order and its own crop windows (never a T1 crop with its own
               grey-matter crop). Held out: 64x64 tiles of slices z 85-99, where the T1 and
               grey-matter tiles correspond (data.paired_test), so translations are scored
               against the truth.
  horse2zebra  the paper's setting on tensorflow-datasets' cycle_gan/horse2zebra (prepare it
               with `tfds build cycle_gan/horse2zebra`): 256x256, 64 filters, 9 blocks, batch 1.
               Any cycle_gan/* set: override data.name and data.other.name. Published FIDs
               for orientation: horse2zebra about 62-65 (Park et al. 2020, arXiv:2007.15651).

Usage:
  python -m jaxgan.main --config=configs/cyclegan.py --workdir=/tmp/cyclegan
  python -m jaxgan.translate --workdir=/tmp/cyclegan --direction=b2a --input=x.png --output=y.png
"""
import ml_collections

from jaxgan import config_lib

blocks = config_lib.sibling_module(__file__, 'blocks')

# preset: (dataset A, dataset B, image size, channels, features, residual blocks, batch, steps)
PRESETS = {
    'digits': ('sklearn_digits', 'mnist_5k', 32, 1, 16, 4, 8, 1000),
    'mri': ('mni152_t1', 'mni152_gm', 64, 1, 16, 4, 4, 400),
    'horse2zebra': ('cycle_gan/horse2zebra', 'cycle_gan/horse2zebra', 256, 3, 64, 9, 1, 266700),
}


def _data(preset: str) -> ml_collections.ConfigDict:
  name_a, name_b, size, channels = PRESETS[preset][:4]
  block = blocks.data(name_a, size, channels)
  block.pairing = 'unpaired'
  block.paired_test = preset == 'mri'  # the held-out splits correspond (ground truth)
  block.crops_per_image = 100  # MRI: random crops per slice and epoch
  block.image_feature = 'image'
  block.other = blocks.data(name_b, size, channels)
  block.other.image_feature = 'image'
  for domain, part in ((block, 'A'), (block.other, 'B')):
    domain.pad = preset == 'digits'  # 28x28 digits zero-padded to 32x32
    if preset == 'horse2zebra':  # tfds cycle_gan/*: splits trainA, testA, trainB, testB
      domain.train_split, domain.test_split = f'train{part}', f'test{part}'
  return block


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the locked CycleGAN config; `arg` names a preset (default digits)."""
  preset = arg or 'digits'
  if preset not in PRESETS:
    raise config_lib.ConfigError(f"Unknown cyclegan preset {preset!r} (the part after ':' in "
                                 f'--config); choose one of {sorted(PRESETS)}.')
  features, num_blocks, batch_size, num_steps = PRESETS[preset][4:]
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.family = 'unpaired_translation'
  config.data = _data(preset)

  config.model = ml_collections.ConfigDict()
  config.model.generator = 'resnet'  # or 'encoder_decoder' (DiscoGAN)
  config.model.features = features  # the paper: 64
  config.model.num_blocks = num_blocks  # resnet: residual blocks (the paper: 6 or 9)
  config.model.downsamplings = 2  # resnet
  config.model.depth = 4  # encoder_decoder: stride-2 layers
  config.model.norm = 'instance'
  config.model.discriminator = 'patch'  # or 'image' (DiscoGAN)
  config.model.d_features = features  # the paper: 64
  config.model.d_layers = 3 if preset == 'horse2zebra' else 2  # patch: 70 / 34 pixel patches
  config.model.d_norm = 'instance'

  config.objective = ml_collections.ConfigDict()
  config.objective.cycle_loss = 'l1'
  config.objective.cycle_weight = 10.0  # the paper's lambda
  config.objective.identity_weight = 5.0  # 0.5 lambda; 0: off
  config.objective.adversarial_weight = 2.0  # x jaxgan's 0.5-scaled least-squares loss

  config.gan = blocks.critic('least_squares')
  config.gan.pool_size = 50  # generated images D sees from history; 0: none

  config.optim = ml_collections.ConfigDict()
  for network in ('generator', 'discriminator'):
    config.optim[network] = blocks.adam(learning_rate=2e-4, b1=0.5, b2=0.999, eps=1e-8)
    config.optim[network].schedule = 'constant_then_linear_decay'
    config.optim[network].decay_start = 0.5

  config.mesh = blocks.mesh()
  config.train = blocks.train(num_steps=num_steps, batch_size=batch_size, log_every=100,
                              checkpoint_every=500, keep_checkpoints=2, sample_every=500,
                              num_sample_images=8, ema_decay=0.999)

  best = ('psnr_a2b', 'max') if preset == 'mri' else ('', 'max')  # no truth: keep no best
  config.eval = blocks.heldout_eval(500, *best, batch_size=50)
  config.lock()
  return config
