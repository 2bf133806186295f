"""VAE on the bundled MNIST digits (Kingma & Welling 2013, arXiv:1312.6114).

The default follows the flax VAE example: MLP encoder/decoder with 500 hidden units, 20 latents,
Bernoulli likelihood on binarized digits, Adam(1e-3), batch 128. `:cifar10` switches to the
convolutional pair and an 8-bit discretized logistic likelihood.

Usage:
  python -m jaxgan.main --config=configs/vae.py --workdir=/tmp/vae
  python -m jaxgan.main --config=configs/vae.py --config.model.architecture=conv --workdir=/tmp/cvae
  python -m jaxgan.main --config=configs/vae.py:cifar10 --workdir=/tmp/vae_cifar
"""
import ml_collections

from jaxgan import config_lib

blocks = config_lib.sibling_module(__file__, 'blocks')

_DATASET_PRESETS = {
    # name: (image_size, channels, architecture, likelihood)
    'mnist_5k': (28, 1, 'mlp', 'bernoulli'),
    'mnist': (28, 1, 'mlp', 'bernoulli'),
    'cifar10': (32, 3, 'conv', 'discretized_logistic'),
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the locked VAE config; `arg` names a dataset preset."""
  dataset = arg or 'mnist_5k'
  if dataset not in _DATASET_PRESETS:
    raise config_lib.ConfigError(
        f"Unknown vae preset {dataset!r} (the part after ':' in --config); choose "
        f'one of {sorted(_DATASET_PRESETS)}.')
  image_size, channels, architecture, likelihood = _DATASET_PRESETS[dataset]

  config = ml_collections.ConfigDict()
  config.seed = 0
  config.family = 'vae'

  config.data = blocks.data(dataset, image_size, channels)

  config.model = ml_collections.ConfigDict()
  config.model.architecture = architecture  # 'mlp' or 'conv'
  config.model.latent_dim = 20
  config.model.hidden_widths = (500,)  # mlp: Dense widths of the encoder (decoder reversed)
  config.model.conv_widths = (32, 64)  # conv: one stride-2 3x3 conv per width

  config.vae = ml_collections.ConfigDict()
  config.vae.likelihood = likelihood  # 'bernoulli' or 'discretized_logistic'
  # bernoulli only: 'dynamic' (x ~ Bernoulli(pixel / 255) each step) or 'threshold' (>= 128).
  config.vae.binarization = 'dynamic'
  config.vae.beta = 1.0  # KL weight; 1 is the ELBO
  config.vae.kl_warmup_steps = 0  # linear warm-up of the KL weight from 0; 0 = off

  config.optim = ml_collections.ConfigDict()
  config.optim.model = blocks.adam(learning_rate=1e-3, b1=0.9, b2=0.999, eps=1e-8)

  config.mesh = blocks.mesh()
  config.train = blocks.train(num_steps=2000, batch_size=128, log_every=100, checkpoint_every=1000,
                              keep_checkpoints=2, sample_every=1000, num_sample_images=64)

  # Held-out likelihood on the whole test split: -ELBO, IWAE bound, bits/dim of the bound.
  config.eval = blocks.likelihood_eval(every_steps=1000)
  config.eval.heldout.iwae_samples = 1000  # k of the importance-weighted bound (Burda et al. 2015)
  config.eval.heldout.iwae_chunk = 100  # posterior samples decoded at once (bounds memory)

  config.lock()
  return config
