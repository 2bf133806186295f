"""Likelihood models on mnist_5k: VAE, beta-VAE, a 2-latent VAE, Gated PixelCNN, and a PyTorch
twin of the VAE, each evaluated on the whole fixed 500-image test split.

  flock /tmp/jaxgan_cpu.lock python experiments/likelihood_models.py \
      --out=experiments/results/likelihood

Every JAX model trains through jaxgan.training.trainer.train_and_evaluate from its real config (only
the step count set here) and is scored by jaxgan.evaluation's held-out evaluator. The PyTorch
twin has the VAE's architecture, starts from the JAX model's initial weights, sees the same
batches in the same order, uses Adam with the same settings and the same EMA, and is scored
by an independent PyTorch implementation of the same estimators (its own binarization draws).
Writes OUT/results.json, OUT/results.md (the README table) and the PNG grids.
"""
import argparse
import json
import math
import os
import shutil
import tempfile
import time

import jax
import numpy as np
import torch

from jaxgan import config_lib
from jaxgan.data import images as image_lib
from jaxgan.data import sources as data
from jaxgan import evaluation
from jaxgan import families
from jaxgan.inference import api
from jaxgan.training import mesh as mesh_lib
from jaxgan.training import trainer as train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(name: str, **overrides):
  config = config_lib.load_config(os.path.join(REPO, 'configs', name))
  for dotted, value in overrides.items():
    node = config
    *parents, leaf = dotted.split('.')
    for parent in parents:
      node = node[parent]
    node[leaf] = value
  return config


def _train_and_score(label, config, runs_dir, out_dir):
  """Trains `config` with the trainer, evaluates it, copies its last grids to out_dir."""
  workdir = os.path.join(runs_dir, label)
  start = time.perf_counter()
  state = train.train_and_evaluate(config, workdir)
  train_seconds = time.perf_counter() - start
  family = families.make(config)
  evaluator = evaluation.make_evaluators(config, family, mesh_lib.make_mesh())['heldout']
  start = time.perf_counter()
  metrics = evaluator(state, config.train.num_steps)
  eval_seconds = time.perf_counter() - start
  step = config.train.num_steps
  for png in os.listdir(os.path.join(workdir, 'samples')):
    if png.endswith(f'step_{step:07d}.png'):
      kind = png[:-len(f'step_{step:07d}.png')].rstrip('_') or 'samples'
      shutil.copy(os.path.join(workdir, 'samples', png),
                  os.path.join(out_dir, f'{label}_{kind}.png'))
  print(f'{label}: {metrics} train {train_seconds:.0f}s eval {eval_seconds:.0f}s', flush=True)
  return state, family, {'metrics': metrics, 'protocol': evaluator.protocol(),
                         'steps': step, 'batch_size': config.train.batch_size,
                         'train_seconds': train_seconds, 'eval_seconds': eval_seconds}


class TorchVae(torch.nn.Module):
  """The MLP VAE of configs/vae.py in PyTorch: 784-500-(2x20) encoder, 20-500-784 decoder."""

  def __init__(self, hidden: int, latent_dim: int, num_pixels: int):
    super().__init__()
    self.encoder_hidden = torch.nn.Linear(num_pixels, hidden)
    self.encoder_stats = torch.nn.Linear(hidden, 2 * latent_dim)
    self.decoder_hidden = torch.nn.Linear(latent_dim, hidden)
    self.decoder_logits = torch.nn.Linear(hidden, num_pixels)
    self.latent_dim = latent_dim

  def encode(self, x):
    stats = self.encoder_stats(torch.relu(self.encoder_hidden(2 * x - 1)))
    return stats[:, :self.latent_dim], stats[:, self.latent_dim:]

  def decode(self, z):
    return self.decoder_logits(torch.relu(self.decoder_hidden(z)))

  def load_flax(self, params):
    """Copies flax Dense kernels [in, out] and biases into the Linear layers."""
    pairs = [(self.encoder_hidden, params['encoder']['Dense_0']),
             (self.encoder_stats, params['encoder']['Dense_1']),
             (self.decoder_hidden, params['decoder']['Dense_0']),
             (self.decoder_logits, params['decoder']['Dense_1'])]
    with torch.no_grad():
      for linear, dense in pairs:
        linear.weight.copy_(torch.from_numpy(np.asarray(dense['kernel']).T.copy()))
        linear.bias.copy_(torch.from_numpy(np.asarray(dense['bias']).copy()))


def _torch_log_terms(model, x, num_samples):
  """[k, N] log p(x|z_k) and log p(z_k) - log q(z_k|x), and the analytic KL [N]."""
  mean, log_variance = model.encode(x)
  std = torch.exp(0.5 * log_variance)
  z = mean + std * torch.randn((num_samples,) + mean.shape)
  logits = model.decode(z.reshape(-1, z.shape[-1])).reshape(num_samples, x.shape[0], -1)
  log_likelihood = -torch.nn.functional.binary_cross_entropy_with_logits(
      logits, x.expand_as(logits), reduction='none').sum(-1)
  normal = torch.distributions.Normal
  log_ratio = (normal(0.0, 1.0).log_prob(z) - normal(mean, std).log_prob(z)).sum(-1)
  kl = 0.5 * (log_variance.exp() + mean ** 2 - 1 - log_variance).sum(-1)
  return log_likelihood, log_ratio, kl


def torch_twin(config, init_params, train_source, test_images):
  """Trains the PyTorch twin the same steps on the same batches; returns its test metrics."""
  torch.manual_seed(config.seed)
  hidden, = config.model.hidden_widths
  model = TorchVae(hidden, config.model.latent_dim, 784)
  model.load_flax(jax.device_get(init_params))
  ema = [p.detach().clone() for p in model.parameters()]
  optim = config.optim.model
  optimizer = torch.optim.Adam(model.parameters(), lr=optim.learning_rate,
                               betas=(optim.b1, optim.b2), eps=optim.eps)
  start = time.perf_counter()
  batch_size = config.train.batch_size
  for step in range(config.train.num_steps):
    indices = data.batch_indices(step * batch_size, batch_size, len(train_source), config.seed)
    pixels = torch.from_numpy(train_source.get(indices)['image'].reshape(len(indices), -1))
    x = torch.bernoulli(pixels.float() / 255.0)  # dynamic binarization
    log_likelihood, _, kl = _torch_log_terms(model, x, 1)
    loss = (kl - log_likelihood[0]).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    decay = min(config.train.ema_decay, (1.0 + step) / (10.0 + step))
    with torch.no_grad():
      for e, p in zip(ema, model.parameters()):
        e.mul_(decay).add_((1.0 - decay) * p)
  train_seconds = time.perf_counter() - start
  with torch.no_grad():
    for e, p in zip(ema, model.parameters()):
      p.copy_(e)
    start = time.perf_counter()
    neg_elbo, iwae = [], []
    x_all = torch.bernoulli(torch.from_numpy(test_images.reshape(len(test_images), -1)).float()
                            / 255.0)
    heldout = config.eval.heldout
    k, chunk = heldout.iwae_samples, heldout.iwae_chunk
    for x in x_all.split(heldout.batch_size):
      terms = [_torch_log_terms(model, x, chunk) for _ in range(k // chunk)]
      log_likelihood = torch.cat([t[0] for t in terms])
      log_weights = log_likelihood + torch.cat([t[1] for t in terms])
      neg_elbo.append(terms[0][2] - log_likelihood.mean(0))
      iwae.append(-(torch.logsumexp(log_weights, 0) - math.log(k)))
  iwae_nll = torch.cat(iwae).mean().item()
  metrics = {'neg_elbo_nats': torch.cat(neg_elbo).mean().item(), 'iwae_nll_nats': iwae_nll,
             'bits_per_dim': iwae_nll / (784 * math.log(2))}
  print(f'torch twin: {metrics} train {train_seconds:.0f}s', flush=True)
  return {'metrics': metrics, 'steps': config.train.num_steps,
          'batch_size': config.train.batch_size, 'train_seconds': train_seconds,
          'eval_seconds': time.perf_counter() - start}


def _time_pixelcnn_sampling(family, state, num, out_dir):
  """Seconds to draw `num` images with the jitted sampler, compiled beforehand (not timed)."""
  key = jax.random.key(1)
  start = time.perf_counter()
  sample = jax.jit(family.sample, static_argnums=2).lower(state, key, num).compile()
  compile_seconds = time.perf_counter() - start
  start = time.perf_counter()
  images = jax.block_until_ready(sample(state, key))
  seconds = time.perf_counter() - start
  image_lib.save_png(image_lib.make_grid(image_lib.to_uint8(jax.device_get(images))),
                     os.path.join(out_dir, 'pixelcnn_samples_timed.png'))
  return {'num_images': num, 'seconds': seconds, 'compile_seconds': compile_seconds,
          'network_passes': family.num_dims}


def _markdown(results) -> str:
  lines = ['| model | steps x batch | test -ELBO (nats) | test NLL (nats): IWAE k=1000 bound, '
           'or exact | bits/dim (of that NLL) | train (s) |',
           '| --- | --- | --- | --- | --- | --- |']
  for label, r in results['models'].items():
    m = r['metrics']
    nll = (f"{m['iwae_nll_nats']:.1f} (IWAE)" if 'iwae_nll_nats' in m
           else f"{m['nll_nats']:.1f} (exact)")
    elbo = f"{m['neg_elbo_nats']:.1f}" if 'neg_elbo_nats' in m else '-'
    lines.append(f"| {label} | {r['steps']} x {r['batch_size']} | {elbo} | {nll} | "
                 f"{m['bits_per_dim']:.3f} | {r['train_seconds']:.0f} |")
  timing = results['pixelcnn_sampling']
  lines.append('')
  lines.append(f"PixelCNN sampling: {timing['num_images']} images in {timing['seconds']:.1f} s "
               f"({timing['network_passes']} network passes in a jitted fori_loop; compilation "
               f"{timing['compile_seconds']:.1f} s, not included). Train seconds include the "
               f"trainer's final sample grids and checkpoint.")
  return '\n'.join(lines) + '\n'


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--out', default='experiments/results/likelihood')
  parser.add_argument('--vae_steps', type=int, default=2000)
  parser.add_argument('--pixelcnn_steps', type=int, default=1000)
  args = parser.parse_args()
  os.makedirs(args.out, exist_ok=True)
  runs_dir = tempfile.mkdtemp(prefix='likelihood_runs_')
  results = {'device': str(jax.devices()[0]), 'models': {}}

  vae_config = _config('vae.py', **{'train.num_steps': args.vae_steps})
  state, family, results['models']['VAE (MLP, 20 latents)'] = _train_and_score(
      'vae', vae_config, runs_dir, args.out)
  strips = api.load(os.path.join(runs_dir, 'vae')).interpolate(6, 10, seed=3)
  image_lib.save_png(image_lib.make_grid(strips.reshape(60, *strips.shape[2:]), columns=10),
                     os.path.join(args.out, 'vae_interpolations.png'))

  train_source = data.open_source(vae_config.data, 'train')
  init_state = families.init_state(family, mesh_lib.make_mesh())
  test_images = data.open_source(vae_config.data, 'test').get(np.arange(500))['image']
  results['models']['PyTorch twin of the VAE'] = torch_twin(
      vae_config, init_state.model.params, train_source, test_images)

  beta_config = _config('beta_vae.py', **{'train.num_steps': args.vae_steps})
  _, _, results['models']['beta-VAE (beta=4)'] = _train_and_score(
      'beta_vae', beta_config, runs_dir, args.out)
  latent2_config = _config('vae.py', **{'train.num_steps': args.vae_steps,
                                        'model.latent_dim': 2})
  _, _, results['models']['VAE (MLP, 2 latents)'] = _train_and_score(
      'vae_2d', latent2_config, runs_dir, args.out)

  pixelcnn_config = _config('pixelcnn.py', **{'train.num_steps': args.pixelcnn_steps})
  state, family, results['models']['Gated PixelCNN (256-way softmax)'] = _train_and_score(
      'pixelcnn', pixelcnn_config, runs_dir, args.out)
  results['pixelcnn_sampling'] = _time_pixelcnn_sampling(family, state, 16, args.out)

  with open(os.path.join(args.out, 'results.json'), 'w') as f:
    json.dump(results, f, indent=2)
  table = _markdown(results)
  with open(os.path.join(args.out, 'results.md'), 'w') as f:
    f.write(table)
  print(table)
  shutil.rmtree(runs_dir)


if __name__ == '__main__':
  main()
