"""BigGAN-deep: class-conditional ResNet GAN with bottleneck blocks (jaxgan/models/biggan.py).

Brock et al. 2019 (arXiv:1809.11096), appendix B and the 128x128 BigGAN-deep table: hierarchical
conditional batch norm on [shared class embedding (128), z (128)], spectral norm in G and D,
self-attention at 64x64, projection D, hinge loss, two D updates per G update, Adam(b1=0,
b2=0.999) with learning rates 5e-5 (G) and 2e-4 (D), orthogonal regularization beta = 1e-4 and
an EMA of G with decay 0.9999. The EMA starts with the family's warm-up, decay min(0.9999,
(1 + t) / (10 + t)), instead of the paper's copy at step 20,000. Adam's eps 1e-6 is the authors'
PyTorch code's (BigGAN-PyTorch, whose BigGAN-deep script sets no orthogonal regularization).

Presets (the part after ':'):
  tiny  (default) the same model at widths (64, 32, 16) / (16, 32, 64), 2 blocks per stage,
        attention at 14x14, on the bundled mnist_5k digits at 28x28 with their 10 labels.
  128   the paper's BigGAN-deep 128 on ImageNet (tensorflow-datasets 'imagenet2012', centre-
        cropped and resized to 128x128): ch = 128, G widths ch x (16, 16, 8, 4, 2, 1), D widths
        ch x (1, 2, 4, 8, 16, 16), batch 2,048 per D update and per G update (a step reads
        2 x 2,048 images). G has 50.3M parameters and D 34.7M (the paper: 50.4M, 34.6M).

  python -m jaxgan.main --config=configs/biggan.py --workdir=/tmp/biggan
  python -m jaxgan.main --config=configs/biggan.py:128 --workdir=/tmp/biggan128 \
      --config.data.data_dir=DIR   # `tfds build imagenet2012 --file_format=array_record`

Mesh for the 128 preset. The state is G's parameters, EMA and two Adam moments (4 x 50.3M) and
D's parameters and two moments (3 x 34.7M): 305M float32 numbers, 1.2 GB, which one accelerator
holds replicated; the activations of 2,048 images at 128x128 are what need many devices. On a
64-chip slice the data-parallel mesh (config.mesh.data = 64: 32 images per chip and D update)
is the plain choice; sharding the state over an fsdp axis (config.mesh.data = 16,
config.mesh.fsdp = 4) cuts the 1.2 GB per chip by 4 where memory is short, at the cost of
gathering each layer's weights per use.
"""
from jaxgan import config_lib

common = config_lib.sibling_module(__file__, 'common')
blocks = config_lib.sibling_module(__file__, 'blocks')

_PRESETS = {
    # name: (data block arguments, channel multiplier ch, G widths / ch, D widths / ch,
    #        batch per D update, shared embedding and latent size, EMA decay, sample images)
    'tiny': (('mnist_5k', 28, 1), 16, (4, 2, 1), (1, 2, 4), 32, 32, 0.999, 100),
    '128': (('imagenet2012', 128, 3), 128, (16, 16, 8, 4, 2, 1), (1, 2, 4, 8, 16, 16), 2048, 128,
            0.9999, 64),
}


def get_config(arg: str | None = None):
  preset = arg or 'tiny'
  if preset not in _PRESETS:
    raise config_lib.ConfigError(
        f"Unknown biggan preset {preset!r} (the part after ':' in --config); choose one of "
        f'{sorted(_PRESETS)}.')
  data, ch, g_widths, d_widths, batch, embedding, ema_decay, num_samples = _PRESETS[preset]
  config = common.load('dcgan', 'mnist_5k')
  with config.unlocked():
    name, image_size, channels = data
    if name != 'mnist_5k':
      config.data = blocks.data(name, image_size, channels, resize=True)
      config.data.test_split = 'validation'  # ImageNet's test split has no labels
    config.model.latent_dim = embedding
  common.set_model(config, 'biggan', generator_widths=[ch * w for w in g_widths],
                   discriminator_widths=[ch * w for w in d_widths],
                   generator_norm='conditional_batch', discriminator_norm='none',
                   generator_spectral_norm=True, discriminator_spectral_norm=True,
                   # at half the image side: 64 at 128 as in the paper, and in shrunk tests
                   attention_resolution=config_lib.derived(
                       lambda side: side // 2, int, config.data.get_ref('image_size')),
                   shared_embedding_dim=embedding, blocks_per_stage=2)
  config.model.conditioning = 'projection'
  config.model.num_classes = 10 if preset == 'tiny' else 1000
  config.gan.loss = 'hinge'
  config.gan.n_critic = 2
  config.gan.orthogonal_weight = 1e-4
  config.train.batch_size = batch * config.gan.n_critic
  config.train.ema_decay = ema_decay
  config.train.num_sample_images = num_samples
  for network, learning_rate in (('generator', 5e-5), ('discriminator', 2e-4)):
    common.set_adam(config, network, learning_rate, b1=0.0, b2=0.999)
    config.optim[network].eps = 1e-6
  if preset == '128':
    quality = config.eval.sample_quality
    quality.num_samples = 50000
    quality.reference_count = 50000  # the first 50,000 training images
  return config
