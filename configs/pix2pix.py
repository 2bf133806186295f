"""pix2pix (Isola et al. 2017, arXiv:1611.07004) on offline paired tasks.

U-Net generator (skips between mirrored layers, dropout 0.5 in the three innermost decoder
layers as the noise source, only while training) and a PatchGAN that sees (input, image);
objective 100 x L1 + the conditional non-saturating GAN loss, Adam(2e-4, 0.5, 0.999), as in the
paper. Instance norm instead of their batch norm of batch size 1 (the same normalization at
batch size 1), so batches > 1 train and test alike. Widths and depths are sized for a 2-core CPU.

Presets (the part after ':'):
  edges2digits  mnist_5k zero-padded to 32x32; input = Canny edges (sigma 1) of the digit
                (jaxgan/data/degradations.py). PatchGAN of 2 layers: 34x34 receptive field, the
                whole digit (the paper's 70x70 patches on 256x256 images see a quarter).
                Held out: the 500 test digits; the best checkpoint is chosen on 250
                training digits held back (configs/blocks.py: VALIDATION_SPLITS).
  mri           grey- and white-matter probability maps -> T1 of the MNI152 template (nilearn
                0.14.1, voxel-aligned): aligned 64x64 crops of axial slices z 30-79 and
                105-139; held out: 64x64 tiles of slices z 85-99 (jaxgan/data/image_sets.py); the
                best checkpoint is chosen on the tiles of z 145-149, held back from training.
  Any other aligned pair: set data.name / data.other.name (e.g. two tensorflow-datasets sets or
  features, data.image_feature / data.other.image_feature, whose examples correspond).

Usage:
  python -m jaxgan.main --config=configs/pix2pix.py --workdir=/tmp/pix2pix
  python -m jaxgan.translate --workdir=/tmp/pix2pix --input=edges.png --output=digit.png
"""
import ml_collections

from jaxgan import config_lib

blocks = config_lib.sibling_module(__file__, 'blocks')

PRESETS = ('edges2digits', 'mri')


def _data(preset: str) -> ml_collections.ConfigDict:
  digits = preset == 'edges2digits'
  block = blocks.data('mnist_5k', 32, 1) if digits else blocks.data('mni152_t1', 64, 1)
  block.pad = digits  # 28x28 digits zero-padded to 32x32 (a U-Net halves the size 5 times)
  block.crops_per_image = 100  # MRI: random aligned crops per slice and epoch
  block.image_feature = 'image'  # a tensorflow-datasets set: the feature holding the target
  if digits:
    block.pairing = 'degradation'
    block.degradation = ml_collections.ConfigDict({'name': 'edges', 'sigma': 1.0})
  else:  # T1 slices (the target) aligned with the (gm, wm) maps of the same voxels
    block.pairing = 'aligned'
    block.other = blocks.data('mni152_tissue', 64, 2)
    block.other.image_feature = 'image'  # e.g. the input feature of the same tfds set
  return block


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the locked pix2pix config; `arg` names a preset (default edges2digits)."""
  preset = arg or 'edges2digits'
  if preset not in PRESETS:
    raise config_lib.ConfigError(f"Unknown pix2pix preset {preset!r} (the part after ':' in "
                                 f'--config); choose one of {PRESETS}.')
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.family = 'pix2pix'
  config.data = _data(preset)

  size = config.data.image_size
  config.model = ml_collections.ConfigDict()
  config.model.generator = 'unet'
  config.model.features = 32  # the paper: 64
  config.model.depth = {32: 5, 64: 6}[size]  # down to 1x1, as the paper's 8 at 256x256
  config.model.max_features = 256  # the paper: 512
  config.model.norm = 'instance'  # or 'batch', 'none'
  config.model.dropout = 0.5
  config.model.dropout_layers = 3  # innermost decoder layers with dropout
  config.model.bottleneck = 0  # context encoder only
  config.model.d_features = 32  # the paper: 64
  config.model.d_layers = 2  # PatchGAN receptive field: 16 (1), 34 (2), 70 (3 layers)
  config.model.d_norm = 'instance'
  config.model.conditional_d = True  # D sees the input beside the image (cGAN)

  config.objective = ml_collections.ConfigDict()
  config.objective.pixel_loss = 'l1'
  config.objective.reconstruction_weight = 100.0  # the paper's lambda
  config.objective.adversarial_weight = 1.0  # 0: L1 only (no D)

  # any loss of jaxgan/adversarial/losses.py (e.g. least_squares)
  config.gan = blocks.critic('non_saturating')

  config.optim = ml_collections.ConfigDict()
  config.optim.generator = blocks.adam(learning_rate=2e-4, b1=0.5, b2=0.999, eps=1e-8)
  config.optim.discriminator = blocks.adam(learning_rate=2e-4, b1=0.5, b2=0.999, eps=1e-8)

  config.mesh = blocks.mesh()
  config.train = blocks.train(num_steps=1500, batch_size=16 if size == 32 else 8, log_every=100,
                              checkpoint_every=500, keep_checkpoints=2, sample_every=500,
                              num_sample_images=8, ema_decay=0.999)

  validation = blocks.hold_out_validation(config.data)
  if config.data.pairing == 'aligned':  # the inputs: the same images of the other set
    blocks.hold_out_validation(config.data.other)
  config.eval = blocks.heldout_eval(500, 'l1', 'min', batch_size=50, validation_split=validation)
  config.lock()
  return config
