"""Inpainting: a context encoder (Pathak et al. 2016, arXiv:1604.07379) or a U-Net of partial
convolutions (Liu et al. 2018, arXiv:1804.07723), on masks drawn on the fly (jaxgan/data/masks.py).

The generator sees the image with the hole zeroed plus the mask; known pixels of its output are
replaced by the input's (the composite is what is scored and saved). Presets (after ':'):
  digits         mnist_5k zero-padded to 32x32, a centred 14x14 hole (the centre of the 28x28
                 digit), context encoder: L2 in the hole (0.999) + adversarial (0.001), D on
                 the composite, Adam(2e-4, 0.5, 0.999) as Pathak et al. Held out: the 500 test
                 digits.
  digits_pconv   the same data and hole, partial-convolution U-Net with Liu et al.'s loss
                 (hole 6, valid 1, VGG16 perceptual 0.05, style 120, total variation 0.1).
  photos         64x64 random crops of the bundled photographs' train split, a centred 32x32
                 hole, context encoder. Held out: the 64x64 tiles of astronaut, chelsea, coffee
                 (jaxgan/data/image_sets.py), never trained on or selected on.
  photos_pconv   the photographs with free-form strokes (Yu et al. 2019's algorithm), partial-
                 convolution U-Net.
The best checkpoint is chosen on images held back from training (250 training digits; the
photographs rocket and china: configs/blocks.py VALIDATION_SPLITS), never on the held-out test
images, which are scored for reporting. Widths are sized for a 2-core CPU (the papers' are 2-8x
wider).

Usage:
  python -m jaxgan.main --config=configs/inpaint.py:photos --workdir=/tmp/inpaint
  python -m jaxgan.translate --workdir=/tmp/inpaint --input=photo.png --mask=hole.png \
      --output=filled.png
"""
import ml_collections

from jaxgan import config_lib
from jaxgan.data import masks

blocks = config_lib.sibling_module(__file__, 'blocks')

# preset: (dataset, image size, channels, (mask kind, centre size), generator, batch, steps);
# the budgets are ~3-7 minutes on a 2-core CPU (VGG16 makes a partial-conv step ~4x dearer)
PRESETS = {
    'digits': ('mnist_5k', 32, 1, ('center', 14), 'context_encoder', 32, 1000),
    'digits_pconv': ('mnist_5k', 32, 1, ('center', 14), 'partial_unet', 16, 800),
    'photos': ('photos', 64, 3, ('center', 32), 'context_encoder', 16, 1000),
    'photos_pconv': ('photos', 64, 3, ('strokes', 0), 'partial_unet', 8, 600),
}


def objective(generator: str) -> ml_collections.ConfigDict:
  """The paper's loss weights of `generator` (the family's module docstring has the terms)."""
  block = ml_collections.ConfigDict()
  pconv = generator == 'partial_unet'
  block.pixel_loss = 'l1' if pconv else 'l2'
  block.hole_weight = 6.0 if pconv else 0.999
  block.valid_weight = 1.0 if pconv else 0.0
  block.perceptual_weight = 0.05 if pconv else 0.0
  block.style_weight = 120.0 if pconv else 0.0
  block.tv_weight = 0.1 if pconv else 0.0
  block.adversarial_weight = 0.0 if pconv else 0.001
  return block


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the locked inpainting config; `arg` names a preset (default digits)."""
  preset = arg or 'digits'
  if preset not in PRESETS:
    raise config_lib.ConfigError(f"Unknown inpaint preset {preset!r} (the part after ':' in "
                                 f'--config); choose one of {sorted(PRESETS)}.')
  dataset, size, channels, mask, generator, batch_size, num_steps = PRESETS[preset]
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.family = 'inpainting'

  config.data = blocks.data(dataset, size, channels)
  config.data.pad = dataset == 'mnist_5k'  # 28x28 digits zero-padded to 32x32
  config.data.crops_per_image = 200  # photos: random crops per image and epoch
  config.data.pairing = 'degradation'
  config.data.degradation = ml_collections.ConfigDict({'name': 'mask'})
  config.data.degradation.mask = masks.default_config(mask[0])  # every kind's fields
  config.data.degradation.mask.size = mask[1] or config.data.degradation.mask.size

  config.model = ml_collections.ConfigDict()
  config.model.generator = generator  # 'context_encoder', 'partial_unet' or 'unet'
  config.model.features = 32
  config.model.depth = {32: 4, 64: 5}[size]  # unet / partial_unet downsamplings
  config.model.max_features = 256
  config.model.norm = 'batch'  # unet only
  config.model.dropout = 0.0  # unet only
  config.model.dropout_layers = 0
  config.model.bottleneck = 256  # context encoder: channels at 4x4 (Pathak et al.: 4000 at 4x4)
  config.model.d_features = 32
  config.model.d_layers = 2  # PatchGAN receptive field 34
  config.model.d_norm = 'batch'
  config.model.conditional_d = False

  config.objective = objective(generator)

  config.gan = blocks.critic('non_saturating')

  config.optim = ml_collections.ConfigDict()
  config.optim.generator = blocks.adam(learning_rate=2e-4, b1=0.5, b2=0.999, eps=1e-8)
  config.optim.discriminator = blocks.adam(learning_rate=2e-4, b1=0.5, b2=0.999, eps=1e-8)

  config.mesh = blocks.mesh()
  config.train = blocks.train(num_steps=num_steps, batch_size=batch_size, log_every=100,
                              checkpoint_every=500, keep_checkpoints=2, sample_every=500,
                              num_sample_images=8, ema_decay=0.999)

  config.eval = blocks.heldout_eval(500, 'hole_psnr', 'max',
                                    batch_size=50 if dataset == 'mnist_5k' else 16,
                                    validation_split=blocks.hold_out_validation(config.data))
  config.lock()
  return config
