"""Channel pruning (jaxgan/compression/pruning.py, jaxgan.prune): keep=1.0 is the original bitwise
(and resumes as the uninterrupted run), the tool equals the arrays sliced by hand for the
channels a hand-computed ranking keeps, a pruned generator computes what the original does with
the dropped channels unread, SRResNet's block-internal channels, the command line's run
(loadable, cheaper, fine-tunable) and its refusals."""
import json
import os

import jax
import numpy as np
import pytest

from conftest import REPO
from conftest import final_state
from conftest import run_in_process
from conftest import run_module
from conftest import shrunk_config
from conftest import tiny_dcgan_config
from jaxgan import config_lib
from jaxgan import families
from jaxgan.compression import pruning
from jaxgan.inference import api
from jaxgan.inference import runs
from jaxgan.training import trainer as train

FROM_RUN = os.path.join(REPO, 'configs', 'from_run.py')
TINY_SRRESNET = {'model.features': 8, 'model.num_blocks': 2, 'data.image_size': 32,
                 'train.batch_size': 4}


@pytest.fixture(scope='module')
def teacher(trained_run):
  return trained_run(tiny_dcgan_config())  # the run other test files share


@pytest.fixture(scope='module')
def teacher_state(teacher):
  return final_state(teacher, tiny_dcgan_config())


def _generate(family, state, num=4):
  z = jax.random.normal(jax.random.key(1), (num, family.latent_dim))
  return np.asarray(jax.jit(family.generate)(state, z))


def _assert_trees_equal(a, b):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    assert np.shape(x) == np.shape(y)
    np.testing.assert_array_equal(x, y)


def test_keep_one_is_the_original_bitwise(teacher_state):
  config = tiny_dcgan_config()
  pruned = pruning.prune_state(config, teacher_state, 1.0)
  assert tuple(pruned.config.model.generator_widths) == (16, 8, 4)
  _assert_trees_equal(pruned.state, teacher_state)
  np.testing.assert_array_equal(_generate(pruned.family, pruned.state),
                                _generate(families.make(config), teacher_state))


def _dcgan_by_hand(tree: dict, kept: list) -> dict:
  """A DCGAN generator's params-shaped tree (params, EMA, an Adam moment, batch stats) sliced
  with numpy: channel c of the Dense is its outputs c, c + 16, ... (the reshape to [7, 7, 16])."""
  k0, k1, k2 = kept
  out = {}
  for name, arrays in tree.items():
    if name == 'Dense_0':
      out[name] = {'kernel': arrays['kernel'].reshape(8, 49, 16)[:, :, k0].reshape(8, -1)}
    elif name == 'BatchNorm_0':
      out[name] = {n: v.reshape(49, 16)[:, k0].reshape(-1) for n, v in arrays.items()}
    elif name.startswith('BatchNorm_'):
      out[name] = {n: v[(k1, k2)[int(name[-1]) - 1]] for n, v in arrays.items()}
    else:
      layer = int(name[-1])
      kernel = arrays['kernel'][:, :, kept[layer]]
      out[name] = {'kernel': kernel[..., kept[layer + 1]] if layer < 2 else kernel}
  return out


@pytest.mark.parametrize('criterion', ['l1', 'bn_scale'])
def test_the_tool_keeps_the_largest_channels_and_slices_as_by_hand(teacher_state, criterion):
  ema = teacher_state.generator.ema_params
  if criterion == 'l1':  # the L1 norm of each output channel's kernel slice
    scores = [np.abs(ema['Dense_0']['kernel']).reshape(8, 49, 16).sum((0, 1)),
              np.abs(ema['ConvTranspose_0']['kernel']).sum((0, 1, 2)),
              np.abs(ema['ConvTranspose_1']['kernel']).sum((0, 1, 2))]
  else:  # |gamma| (summed over the 49 entries of a Dense channel)
    scores = [np.abs(ema['BatchNorm_0']['scale']).reshape(49, 16).sum(0),
              np.abs(ema['BatchNorm_1']['scale']), np.abs(ema['BatchNorm_2']['scale'])]
  kept = [np.sort(np.argsort(s)[::-1][:count]) for s, count in zip(scores, (8, 4, 2))]
  for s, k in zip(scores, kept):
    assert np.min(s[k]) > np.max(np.delete(s, k))

  pruned = pruning.prune_state(tiny_dcgan_config(), teacher_state, 0.5, criterion)
  assert [pruned.kept['generator'][name] for name in ('Dense_0', 'ConvTranspose_0', 'ConvTranspose_1')] == [
      k.tolist() for k in kept]
  assert tuple(pruned.config.model.generator_widths) == (8, 4, 2)
  g, original = pruned.state.generator, teacher_state.generator
  _assert_trees_equal(g.params, _dcgan_by_hand(original.params, kept))
  _assert_trees_equal(g.ema_params, _dcgan_by_hand(ema, kept))
  _assert_trees_equal(g.collections['batch_stats'],
                      _dcgan_by_hand(original.collections['batch_stats'], kept))
  for moment in ('mu', 'nu'):
    _assert_trees_equal(getattr(g.opt_state[0], moment),
                        _dcgan_by_hand(getattr(original.opt_state[0], moment), kept))
  assert int(g.opt_state[0].count) == int(original.opt_state[0].count) and g.step == original.step
  _assert_trees_equal(pruned.state.discriminator, teacher_state.discriminator)


def _unread(params: dict, consumers: dict) -> dict:
  """`params` with the input rows of each consumer kernel that pruning drops set to zero."""
  params = jax.tree.map(np.array, params)
  for layer, kept in consumers.items():
    dropped = np.setdiff1d(np.arange(params[layer]['kernel'].shape[-2]), kept)
    params[layer]['kernel'][..., dropped, :] = 0
  return params


def test_a_pruned_dcgan_computes_the_original_with_the_dropped_channels_unread(teacher_state):
  # Exact in arithmetic: after BatchNorm (running statistics) and LeakyReLU a dropped channel
  # reaches the output only through the next layer's input weights.
  config = tiny_dcgan_config()
  pruned = pruning.prune_state(config, teacher_state, 0.5)
  unread = _unread(teacher_state.generator.ema_params,
                   {f'ConvTranspose_{i}': pruned.kept['generator'][name] for i, name in
                    enumerate(('Dense_0', 'ConvTranspose_0', 'ConvTranspose_1'))})
  reference = teacher_state.replace(networks={
      **teacher_state.networks, 'generator': teacher_state.generator.replace(ema_params=unread)})
  family = families.make(config)
  images = _generate(pruned.family, pruned.state)
  np.testing.assert_allclose(images, _generate(family, reference), rtol=0, atol=1e-5)
  assert np.abs(images - _generate(family, teacher_state)).max() > 1e-2  # dropping changes it


def test_srresnet_prunes_the_block_internal_channels_only():
  config = shrunk_config('srresnet.py', TINY_SRRESNET)
  family = families.make(config)
  example = families.zeros_like_batch(family.example_batch(families.base.phases(family)[0]))
  state = jax.device_get(jax.jit(family.init)(jax.random.key(0), example))  # VGG16 not needed
  # Kaiming-scaled kernels rather than the init's 0.1 x, so dropping channels shows.
  params = {name: jax.tree.map(lambda x: 10 * x, arrays) if name.startswith('Conv') else arrays
            for name, arrays in state.generator.ema_params.items()}
  state = state.replace(networks={'generator': state.generator.replace(ema_params=params)})
  pruned = pruning.prune_state(config, state, 0.25)
  assert tuple(pruned.config.model.block_widths) == (2, 2)
  g = pruned.state.generator.ema_params
  for block in range(2):
    first, second = f'Conv_{2 * block + 1}', f'Conv_{2 * block + 2}'
    kept = pruned.kept['generator'][first]
    np.testing.assert_array_equal(g[first]['kernel'], params[first]['kernel'][..., kept])
    np.testing.assert_array_equal(g[first]['bias'], params[first]['bias'][kept])
    np.testing.assert_array_equal(g[second]['kernel'], params[second]['kernel'][:, :, kept])
    np.testing.assert_array_equal(g[second]['bias'], params[second]['bias'])  # the trunk's
  for name in ('Conv_0', 'Conv_5', 'Conv_6', 'PReLU_0'):
    _assert_trees_equal(g[name], params[name])

  low = np.random.default_rng(0).integers(0, 256, (1, 8, 8, 3), np.uint8)
  translate = lambda family, state: np.asarray(jax.jit(family.translate)(state, low))
  kept = pruned.kept['generator']
  unread = _unread(params, {'Conv_2': kept['Conv_1'], 'Conv_4': kept['Conv_3']})
  reference = state.replace(networks={'generator': state.generator.replace(ema_params=unread)})
  outputs = translate(pruned.family, pruned.state)
  np.testing.assert_allclose(outputs, translate(family, reference), rtol=0, atol=1e-5)
  assert np.abs(outputs - translate(family, state)).max() > 1e-2
  with pytest.raises(config_lib.ConfigError, match='no normalization after'):
    pruning.prune_state(config, state, 0.5, 'bn_scale')


def test_the_command_line_writes_a_cheaper_run_that_loads_and_fine_tunes(teacher, tmp_path):
  out = str(tmp_path / 'pruned')
  result = run_module('jaxgan.prune', f'--workdir={teacher}', f'--out={out}', '--keep=0.5',
                      '--step=5')
  assert result.returncode == 0, result.stderr[-2000:]
  lines = result.stdout.splitlines()
  assert lines[0] == (f'Pruned generator of {teacher} (step 5) by l1, keep 0.5: Dense_0 16->8, '
                      'ConvTranspose_0 8->4, ConvTranspose_1 4->2'), lines
  printed = {line.split(':')[0]: (int(line.split()[1].replace(',', '')), float(line.split()[3]))
             for line in lines if line.startswith(('Before:', 'After:'))}

  model = api.load(out)
  assert model.info['step'] == 5 and model.sample(2).shape == (2, 28, 28, 1)
  pruned, original = (final_state(directory, config).generator.ema_params for directory, config in
                      ((out, runs.load_config(out)), (teacher, tiny_dcgan_config())))
  count = lambda params: sum(np.size(x) for x in jax.tree.leaves(params))
  assert model.info['cost']['parameters'] == printed['After'][0] == count(pruned)
  assert printed['Before'][0] == count(original) > 2 * count(pruned)
  assert printed['After'][1] == round(model.info['cost']['macs_per_image'] / 1e6, 2)
  assert printed['After'][1] < printed['Before'][1] / 2
  with open(os.path.join(out, 'prune.json')) as f:
    record = json.load(f)
  assert record['step'] == 5 and record['source'] == os.path.abspath(teacher)
  assert record['widths'] == {'Dense_0': [16, 8], 'ConvTranspose_0': [8, 4],
                              'ConvTranspose_1': [4, 2]}
  assert record['cost_after']['parameters'] == count(pruned)

  # Fine-tuning resumes from the pruned checkpoint at step 5.
  config = config_lib.load_config(f'{FROM_RUN}:{out}')
  config.train.num_steps = 6
  state = train.train_and_evaluate(config, out)
  assert int(state.step) == 6 and sorted(os.listdir(os.path.join(out, 'checkpoints'))) == ['5', '6']


def test_keep_one_resumes_as_the_uninterrupted_run(teacher, tmp_path):
  out = str(tmp_path / 'pruned')
  pruning.prune_run(teacher, out, 1.0, step=5)
  config = runs.load_config(out)
  config.train.num_steps = 10
  train.train_and_evaluate(config, out)
  _assert_trees_equal(final_state(out, config), final_state(teacher, tiny_dcgan_config()))


def _config_dir(path, config) -> str:
  os.makedirs(path)
  config_lib.write_config_json(config, os.path.join(path, 'config.json'))
  return str(path)


@pytest.mark.parametrize('case, fragment, code', [
    ('keep=0', '--keep=0.0 must be in (0, 1]', 2),
    ('keep=1.5', '--keep=1.5 must be in (0, 1]', 2),
    ('vae', "No pruning rule for a 'vae' run with generator", 2),
    ('bn_scale srresnet', '--criterion=bn_scale ranks by normalization scales', 2),
    ('out not empty', 'exists and is not empty', 2),
    ('no checkpoint', 'No checkpoint in', 1),
])
def test_refusals_are_one_fatal_line_and_write_nothing(teacher, tmp_path, capsys, case, fragment,
                                                       code):
  workdir, out, args = teacher, tmp_path / 'out', ['--keep=0.5']
  if case.startswith('keep='):
    args = [f'--{case}']
  elif case == 'vae':
    workdir = _config_dir(tmp_path / 'vae', shrunk_config('vae.py', {}))
  elif case.startswith('bn_scale'):
    workdir = _config_dir(tmp_path / 'sr', shrunk_config('srresnet.py', TINY_SRRESNET))
    args.append('--criterion=bn_scale')
  elif case == 'out not empty':
    out.mkdir()
    (out / 'notes.txt').write_text('mine')
  else:
    workdir = _config_dir(tmp_path / 'untrained', tiny_dcgan_config())
  before = sorted(os.listdir(workdir))
  result = run_in_process('jaxgan.prune', f'--workdir={workdir}', f'--out={out}', *args)
  fatal = [line for line in capsys.readouterr().err.splitlines() if line.startswith('FATAL')]
  assert result == code and len(fatal) == 1 and fragment in fatal[0], fatal
  assert sorted(os.listdir(workdir)) == before
  assert (os.listdir(out) == ['notes.txt']) if case == 'out not empty' else not out.exists()


def test_from_run_config_needs_a_run_directory(tmp_path):
  with pytest.raises(config_lib.ConfigError, match='has no config.json'):
    config_lib.load_config(f'{FROM_RUN}:{tmp_path}')
