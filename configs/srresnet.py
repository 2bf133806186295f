"""SRResNet x4 on the bundled photographs (Ledig et al. 2017, arXiv:1609.04802).

The PSNR-oriented model: L1 loss only (BasicSR's MSRResNet), Adam(2e-4, 0.9, 0.99) with cosine
annealing, batch 16
of random 64x64 HR crops, LR made on the fly by PIL bicubic downscaling (jaxgan/data/degradations.py).
The paper's network is 64 features x 16 blocks; the default here (32 x 8) is sized for a 2-core
CPU, so its figures are not the paper's. The best checkpoint is the highest PSNR (Y) on the
64x64 tiles of the validation photographs (rocket, china: held back from training); the held-out
test photographs astronaut, chelsea, coffee (jaxgan/data/image_sets.py) are scored on theirs for
reporting. `:mri` holds back slices likewise (configs/blocks.py: VALIDATION_SPLITS). `:div2k`
trains on tensorflow-datasets' div2k (HR images), tested on its validation split (which also
chooses the best checkpoint: no split is held back there).

Usage:
  python -m jaxgan.main --config=configs/srresnet.py --workdir=/tmp/srresnet
  python -m jaxgan.translate --workdir=/tmp/srresnet --input=LR.png --output=SR.png
"""
import ml_collections

from jaxgan import config_lib

blocks = config_lib.sibling_module(__file__, 'blocks')

_PRESETS = {
    # name: (dataset, channels, scale, HR crop, test split, image feature)
    'photos': ('photos', 3, 4, 64, 'test', 'image'),
    'mri': ('mni152_t1', 1, 2, 96, 'test', 'image'),
    'div2k': ('div2k', 3, 4, 128, 'validation', 'hr'),
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the locked SRResNet config; `arg` names a data preset (default photos)."""
  preset = arg or 'photos'
  if preset not in _PRESETS:
    raise config_lib.ConfigError(f"Unknown srresnet preset {preset!r} (the part after ':' in "
                                 f'--config); choose one of {sorted(_PRESETS)}.')
  dataset, channels, scale, crop, test_split, feature = _PRESETS[preset]

  config = ml_collections.ConfigDict()
  config.seed = 0
  config.family = 'super_resolution'

  config.data = blocks.data(dataset, crop, channels)
  config.data.test_split = test_split
  config.data.crop = True  # serve image_size crops: random (train), a grid of tiles (test)
  config.data.crops_per_image = 100  # random crops per image and epoch
  config.data.image_feature = feature  # the tfds feature holding the HR image
  config.data.pairing = 'degradation'
  config.data.degradation = ml_collections.ConfigDict({'name': 'downscale', 'factor': scale})

  config.model = ml_collections.ConfigDict()
  config.model.generator = 'srresnet'  # or 'rrdb' (ESRGAN)
  config.model.features = 32
  config.model.num_blocks = 8
  # srresnet only: each residual block's inner width, e.g. set by jaxgan.prune; (): features.
  config.model.block_widths = ()
  config.model.growth = 16  # rrdb only: channels each dense-block convolution adds
  config.model.image_skip = 'bicubic'  # add the bicubic upsampled input ('none': off)
  config.model.discriminator_widths = (64, 64, 128, 128, 256, 256, 512, 512)
  config.model.discriminator_dense = 1024

  config.sr = ml_collections.ConfigDict()
  config.sr.pixel_loss = 'l1'  # or 'l2' (Ledig et al.'s MSE)
  config.sr.pixel_weight = 1.0
  config.sr.perceptual_layer = 'relu5_3'  # a VGG16 layer (vgg16.LAYERS)
  config.sr.perceptual_loss = 'l1'
  config.sr.perceptual_weight = 0.0  # 0: no VGG loss
  config.sr.adversarial_weight = 0.0  # 0: no critic
  config.sr.init_from = ''  # a workdir whose generator (EMA) starts this run, e.g. for SRGAN
  config.sr.init_step = ml_collections.config_dict.placeholder(int)  # None: its latest

  # The critic's training, when adversarial_weight > 0 (jaxgan/adversarial/updates.py).
  config.gan = blocks.critic('non_saturating')

  config.optim = ml_collections.ConfigDict()
  config.optim.generator = blocks.adam(learning_rate=2e-4, b1=0.9, b2=0.99, eps=1e-8)
  config.optim.generator.schedule = 'cosine'  # annealed to 0 over train.num_steps (BasicSR)
  config.optim.discriminator = blocks.adam(learning_rate=1e-4, b1=0.9, b2=0.99, eps=1e-8)

  config.mesh = blocks.mesh()
  config.train = blocks.train(num_steps=3000, batch_size=16, log_every=100,
                              checkpoint_every=500, keep_checkpoints=2, sample_every=500,
                              num_sample_images=8, ema_decay=0.999)

  config.eval = blocks.heldout_eval(500, 'psnr_y', 'max', batch_size=16, split=test_split,
                                    validation_split=blocks.hold_out_validation(config.data))

  config.lock()
  return config
