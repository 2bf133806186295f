"""VAE family: ELBO and IWAE on a hand-computable model, beta weighting, trainer integration."""
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
from scipy import integrate
from scipy import special
from scipy import stats

from conftest import run_compiled_steps
from conftest import shrunk_config
from jaxgan.data import sources as data
from jaxgan.evaluation import heldout
from jaxgan import families
from jaxgan.training import mesh as mesh_lib
from jaxgan.training import trainer as train

TINY_VAE = {
    'model.hidden_widths': (16,),
    'model.latent_dim': 4,
    'train.batch_size': 8,
    'train.num_steps': 4,
    'train.log_every': 2,
    'train.checkpoint_every': 4,
    'train.sample_every': 4,
    'train.num_sample_images': 4,
    'eval.heldout.batch_size': 128,
    'eval.heldout.iwae_samples': 8,
    'eval.heldout.iwae_chunk': 4,
}


def _one_pixel_vae(encoder_mean, encoder_log_variance, decoder_weight, decoder_bias):
  """configs/vae.py reduced to a 1-pixel image, 1 latent and no hidden layer, with set weights:
  q(z|x) = N(encoder_mean, exp(encoder_log_variance)), p(x=1|z) = sigmoid(w z + b)."""
  config = shrunk_config('vae.py', {
      'data.image_size': 1, 'model.hidden_widths': (), 'model.latent_dim': 1,
      'vae.binarization': 'threshold', 'eval.heldout.iwae_samples': 4000,
      'eval.heldout.iwae_chunk': 1000})
  family = families.make(config)
  state = family.init(jax.random.key(0), {'image': np.zeros((1, 1, 1, 1), np.uint8),
                                          'label': np.zeros(1, np.int32)})
  params = {'encoder': {'Dense_0': {'kernel': jnp.zeros((1, 2)),
                                    'bias': jnp.array([encoder_mean, encoder_log_variance])}},
            'decoder': {'Dense_0': {'kernel': jnp.array([[decoder_weight]]),
                                    'bias': jnp.array([decoder_bias])}}}
  state = state.replace(networks={'model': state.model.replace(params=params, ema_params=params)})
  white_pixel = {'image': np.full((1, 1, 1, 1), 255, np.uint8), 'label': np.zeros(1, np.int32)}
  return family, state, white_pixel


def test_elbo_of_a_hand_computable_model():
  # With w = 0 the likelihood ignores z: -ELBO = -log sigmoid(b) + KL(N(m, v) || N(0, 1)).
  mean, log_variance, bias = 0.5, -1.0, 1.5
  family, state, white_pixel = _one_pixel_vae(mean, log_variance, 0.0, bias)
  metrics = family.eval_metrics(state, white_pixel, jax.random.key(1))
  kl = 0.5 * (math.exp(log_variance) + mean ** 2 - 1.0 - log_variance)
  expected = -math.log(special.expit(bias)) + kl
  np.testing.assert_allclose(metrics['neg_elbo_nats'][0], expected, rtol=1e-5)
  np.testing.assert_allclose(metrics['bits_per_dim'][0], metrics['iwae_nll_nats'][0] / math.log(2),
                             rtol=1e-6)


def test_iwae_bound_approaches_the_exact_likelihood_of_a_one_latent_model():
  """-log p(x=1) = -log integral N(z; 0, 1) sigmoid(w z + b) dz by quadrature; the ELBO and the
  k=4000 IWAE bound (Burda et al. 2015) lie above it, the latter within noise (std 0.004)."""
  weight, bias = 2.0, -0.5
  family, state, white_pixel = _one_pixel_vae(0.5, -0.2, weight, bias)
  exact = -math.log(integrate.quad(lambda z: stats.norm.pdf(z) * special.expit(weight * z + bias),
                                   -12, 12)[0])
  metrics = family.eval_metrics(state, white_pixel, jax.random.key(2))
  assert metrics['neg_elbo_nats'][0] > metrics['iwae_nll_nats'][0] + 0.01
  np.testing.assert_allclose(metrics['iwae_nll_nats'][0], exact, atol=0.02)  # ~4 std devs
  posterior = lambda z: stats.norm.pdf(z, 0.5, math.exp(-0.1))
  expected_elbo = integrate.quad(
      lambda z: posterior(z) * (np.log(special.expit(weight * z + bias)) + stats.norm.logpdf(z)
                                - np.log(posterior(z))), -12, 12)[0]
  np.testing.assert_allclose(metrics['neg_elbo_nats'][0], -expected_elbo, atol=0.02)


def test_kl_weight_and_warmup():
  family = families.make(shrunk_config('beta_vae.py', {'vae.kl_warmup_steps': 10}))
  np.testing.assert_allclose([family.kl_weight(jnp.int32(s)) for s in (0, 5, 10, 50)],
                             [0.0, 2.0, 4.0, 4.0])


def test_beta_weights_only_the_training_loss_and_the_step_compiles_once():
  config = shrunk_config('beta_vae.py', TINY_VAE)
  _, history, step_fn = run_compiled_steps(config, 3)
  metrics = history[-1]
  assert step_fn._cache_size() == 1  # pylint: disable=protected-access
  np.testing.assert_allclose(metrics['loss'],
                             metrics['reconstruction_nats'] + 4.0 * metrics['kl_nats'], rtol=1e-5)
  np.testing.assert_allclose(metrics['neg_elbo'],
                             metrics['reconstruction_nats'] + metrics['kl_nats'], rtol=1e-5)


def test_evaluator_covers_the_test_split_the_same_on_one_and_four_devices():
  config = shrunk_config('vae.py', TINY_VAE, eval__heldout__batch_size=96)  # 500 = 5 x 96 + 20
  family = families.make(config)
  results = []
  for devices in (jax.devices()[:1], jax.devices()):
    mesh = mesh_lib.make_mesh(devices)
    evaluator = heldout.HeldOutEvaluator('heldout', config.eval.heldout, config, family, mesh)
    state = families.init_state(family, mesh)
    results.append(evaluator(state, 0))
  assert evaluator.protocol()['count'] == 500 == data.MNIST_5K_TEST_PER_CLASS * 10
  assert evaluator.protocol()['binarization'] == 'dynamic'
  assert set(results[0]) == {'neg_elbo_nats', 'iwae_nll_nats', 'bits_per_dim'}
  for name in results[0]:
    np.testing.assert_allclose(results[1][name], results[0][name], rtol=1e-5)
  assert results[0]['neg_elbo_nats'] >= results[0]['iwae_nll_nats'] > 0
  np.testing.assert_allclose(results[0]['bits_per_dim'],
                             results[0]['iwae_nll_nats'] / (784 * math.log(2)), rtol=1e-5)


def test_configs_train_through_the_trainer_and_write_reconstructions(tmp_path):
  for name, extra in (('vae.py', {'model.architecture': 'conv', 'model.conv_widths': (4, 8)}),
                      ('beta_vae.py', {'model.latent_dim': 2})):
    workdir = str(tmp_path / name)
    train.train_and_evaluate(shrunk_config(name, dict(TINY_VAE, **extra)), workdir)
    written = sorted(os.listdir(os.path.join(workdir, 'samples')))
    expected = ['reconstructions_step_0000004.png', 'step_0000004.png']
    if name == 'beta_vae.py':
      expected.insert(0, 'manifold_step_0000004.png')
    assert written == expected
    assert os.listdir(os.path.join(workdir, 'checkpoints')) == ['4']
