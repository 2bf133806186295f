"""Fast style transfer (Johnson et al. 2016, arXiv:1603.08155) on the bundled photographs.

Johnson et al.'s image transformation network (jaxgan/models/style.py: 32 features, 5 residual
blocks, upsample-then-convolve) trained with Adam(1e-3) on random crops of photographs to
minimize, on its output, the style-transfer objective of jaxgan/style/objective.py against one
style image. The objective's layers and weights are jaxgan.stylize's defaults (Gatys et al.'s
layers: content relu4_2, style relu1_1 ... relu5_1), so a network and an optimized image can be
scored on the same function; Johnson et al.'s own layers are style_transfer.JOHNSON_*_LAYERS.
The paper trains 40k steps of batch 4 on 256x256 COCO crops; the default here (2000 steps of
batch 4 on 128x128 crops of the 14 training photographs) is sized for a 2-core CPU. The best
checkpoint is chosen on the 128x128 tiles of the validation photographs (rocket, china), and
the held-out test photographs (astronaut, chelsea, coffee; jaxgan/data/image_sets.py) are scored on
theirs for reporting.

`arg` names the style image: a bundled photograph (default hubble_deep_field) or an image file
(set config.style.image to the path). Any tensorflow-datasets image set with an 'image' feature
trains too, e.g. --config.data.name=coco/2017 where prepared.

Usage:
  python -m jaxgan.main --config=configs/fast_style.py:immunohistochemistry --workdir=/tmp/fs
  python -m jaxgan.translate --workdir=/tmp/fs --input=photo.jpg --output=stylized.png --tile=0
"""
import ml_collections

from jaxgan import config_lib
from jaxgan.style import objective as style_transfer

blocks = config_lib.sibling_module(__file__, 'blocks')


def style_block(image: str) -> ml_collections.ConfigDict:
  """The style-transfer objective (jaxgan/style/objective.py) against `image`."""
  block = ml_collections.ConfigDict()
  block.image = image  # a bundled photograph's name (image_sets.PHOTOS_*) or an image file
  block.size = 256  # the style image's longer side in pixels (0: as it is)
  default = style_transfer.DEFAULT  # jaxgan.stylize's defaults: Gatys et al.'s layers
  block.content_layers = default.content_layers  # VGG16 layers (vgg16.LAYERS)
  block.style_layers = default.style_layers  # Gram matrices, equal layer weights
  block.content_weight = default.content_weight
  block.style_weight = default.style_weight
  block.tv_weight = default.tv_weight  # total variation (Johnson et al.'s regularizer)
  return block


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the fast-style config; `arg` names the style image."""
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.family = 'fast_style'

  config.data = blocks.data('photos', 128, 3)
  config.data.crop = True  # image_size crops: random (train), a grid of tiles (test)
  config.data.crops_per_image = 100

  config.model = ml_collections.ConfigDict()
  config.model.features = 32
  config.model.num_blocks = 5

  config.style = style_block(arg or 'hubble_deep_field')

  config.optim = ml_collections.ConfigDict()
  config.optim.generator = blocks.adam(learning_rate=1e-3, b1=0.9, b2=0.999, eps=1e-8)

  config.mesh = blocks.mesh()
  config.train = blocks.train(num_steps=2000, batch_size=4, log_every=50, checkpoint_every=500,
                              keep_checkpoints=2, sample_every=500, num_sample_images=4)

  config.eval = blocks.heldout_eval(500, 'total', 'min', batch_size=8,
                                    validation_split=blocks.hold_out_validation(config.data))
  return config
