"""Channel pruning (jaxgan/compression/pruning.py, jaxgan.prune): keep=1.0 is the original bitwise
(and resumes as the uninterrupted run), the tool equals the arrays sliced by hand for the
channels a hand-computed ranking keeps, a pruned generator computes what the original does with
the dropped channels unread (DCGAN, SRResNet's and CycleGAN's residual blocks, pix2pix's U-Net
with its skips), the command line's run (loadable, cheaper) and its refusals."""
import json
import os

import jax
import numpy as np
import pytest

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

TINY_CYCLEGAN = {'model.features': 4, 'model.num_blocks': 2, 'model.d_features': 4,
                 'train.batch_size': 4}
TINY_PIX2PIX = {'model.features': 4, 'model.max_features': 8, 'model.depth': 3,
                'model.d_features': 4, 'train.batch_size': 4}
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
  layers = ('Dense_0', 'ConvTranspose_0', 'ConvTranspose_1')
  assert [pruned.kept['generator'][name] for name in layers] == [k.tolist() for k in kept]
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
  """`params` with the input rows of each consumer kernel that pruning drops set to zero:
  consumers[layer] = [(axis, offset, width, kept)] (the kept channels of `width` at `offset`)."""
  params = jax.tree.map(np.array, params)
  for layer, parts in consumers.items():
    for axis, offset, width, kept in parts:
      dropped = offset + np.setdiff1d(np.arange(width), kept)
      np.moveaxis(params[layer]['kernel'], axis, 0)[dropped] = 0
  return params


def _with_ema(state, network: str, params: dict):
  return state.replace(networks={**state.networks,
                                 network: state.networks[network].replace(ema_params=params)})


def test_a_pruned_dcgan_computes_the_original_with_the_dropped_channels_unread(teacher_state):
  # Exact in arithmetic: after BatchNorm (running statistics) and LeakyReLU a dropped channel
  # reaches the output only through the next layer's input weights.
  config = tiny_dcgan_config()
  pruned = pruning.prune_state(config, teacher_state, 0.5)
  unread = _unread(teacher_state.generator.ema_params,
                   {f'ConvTranspose_{i}': [(-2, 0, width, pruned.kept['generator'][name])]
                    for i, (name, width) in enumerate(
                        (('Dense_0', 16), ('ConvTranspose_0', 8), ('ConvTranspose_1', 4)))})
  reference = _with_ema(teacher_state, 'generator', unread)
  family = families.make(config)
  images = _generate(pruned.family, pruned.state)
  np.testing.assert_allclose(images, _generate(family, reference), rtol=0, atol=1e-5)
  assert np.abs(images - _generate(family, teacher_state)).max() > 1e-2  # dropping changes it


def _random_state(config, scale: float):
  """(family, host state) of `config` with every float leaf drawn from N(0, scale^2): the
  shapes of family.init without compiling it."""
  family = families.make(config)
  example = families.zeros_like_batch(family.example_batch(families.base.phases(family)[0]))
  rng = np.random.default_rng(0)
  draw = lambda s: ((scale * rng.standard_normal(s.shape)).astype(s.dtype)
                    if np.issubdtype(s.dtype, np.floating) else np.zeros(s.shape, s.dtype))
  return family, jax.tree.map(draw, jax.eval_shape(family.init, jax.random.key(0), example))


def _assert_computes_the_unread_original(pruned, family, state, reference, inputs):
  """The pruned network's translation equals the original's with the dropped channels unread
  (`reference`), and differs from the original's."""
  translate = lambda family, state: np.asarray(jax.jit(family.translate)(state, inputs))
  outputs = translate(pruned.family, pruned.state)
  np.testing.assert_allclose(outputs, translate(family, reference), rtol=0, atol=1e-5)
  assert np.abs(outputs - translate(family, state)).max() > 1e-2


def test_srresnet_prunes_the_block_internal_channels_only():
  config = shrunk_config('srresnet.py', TINY_SRRESNET)
  family, state = _random_state(config, 0.1)
  params = state.generator.ema_params
  pruned = pruning.prune_state(config, state, 0.25)
  assert tuple(pruned.config.model.block_widths) == (2, 2)
  g, kept = pruned.state.generator.ema_params, pruned.kept['generator']
  for block in range(2):
    first, second = f'Conv_{2 * block + 1}', f'Conv_{2 * block + 2}'
    scores = np.abs(params[first]['kernel']).sum((0, 1, 2))
    assert kept[first] == np.sort(np.argsort(scores)[-2:]).tolist()
    np.testing.assert_array_equal(g[first]['kernel'], params[first]['kernel'][..., kept[first]])
    np.testing.assert_array_equal(g[first]['bias'], params[first]['bias'][kept[first]])
    np.testing.assert_array_equal(g[second]['kernel'],
                                  params[second]['kernel'][:, :, kept[first]])
    np.testing.assert_array_equal(g[second]['bias'], params[second]['bias'])  # the trunk's
  for name in ('Conv_0', 'Conv_5', 'Conv_6', 'PReLU_0'):
    _assert_trees_equal(g[name], params[name])
  unread = _unread(params, {'Conv_2': [(-2, 0, 8, kept['Conv_1'])],
                            'Conv_4': [(-2, 0, 8, kept['Conv_3'])]})
  _assert_computes_the_unread_original(
      pruned, family, state, _with_ema(state, 'generator', unread),
      np.random.default_rng(0).integers(0, 256, (1, 8, 8, 3), np.uint8))
  with pytest.raises(config_lib.ConfigError, match='no normalization after'):
    pruning.prune_state(config, state, 0.5, 'bn_scale')


def test_cyclegan_prunes_the_blocks_of_both_generators():
  config = shrunk_config('cyclegan.py', TINY_CYCLEGAN)
  family, state = _random_state(config, 0.3)
  # By bn_scale: the instance norms' scales, set by hand.
  scales = np.array([3, -9, 1, 8, 0.5, 7, -2, 6, 4, 5, 0.1, -11, 2, 0.2, 10, 0.3], np.float32)
  params = jax.tree.map(np.array, state.generator_ab.ema_params)
  params['block_0_norm_0']['InstanceNorm_0']['scale'] = scales
  state = _with_ema(state, 'generator_ab', params)
  pruned = pruning.prune_state(config, state, 0.25, 'bn_scale')
  assert pruned.kept['generator_ab']['block_0_conv_0'] == [1, 3, 11, 14]  # |scale| 9, 8, 11, 10
  assert tuple(pruned.config.model.block_widths) == (4, 4)

  pruned = pruning.prune_state(config, state, 0.25)  # by l1, each generator by its own kernels
  for network in ('generator_ab', 'generator_ba'):
    before = state.networks[network].ema_params
    after = pruned.state.networks[network].ema_params
    for block in range(2):
      first, second = f'block_{block}_conv_0', f'block_{block}_conv_1'
      kept = pruned.kept[network][first]
      assert kept == np.sort(np.argsort(np.abs(before[first]['kernel']).sum((0, 1, 2)))[-4:]
                             ).tolist()
      np.testing.assert_array_equal(after[first]['kernel'], before[first]['kernel'][..., kept])
      norm = f'block_{block}_norm_0'
      np.testing.assert_array_equal(after[norm]['InstanceNorm_0']['scale'],
                                    before[norm]['InstanceNorm_0']['scale'][kept])
      np.testing.assert_array_equal(after[second]['kernel'],
                                    before[second]['kernel'][:, :, kept])
  assert pruned.kept['generator_ab'] != pruned.kept['generator_ba']
  _assert_trees_equal(pruned.state.discriminator_a, state.discriminator_a)
  kept = pruned.kept['generator_ab']
  unread = _unread(params, {f'block_{b}_conv_1': [(-2, 0, 16, kept[f'block_{b}_conv_0'])]
                            for b in range(2)})
  _assert_computes_the_unread_original(
      pruned, family, state, _with_ema(state, 'generator_ab', unread),
      np.random.default_rng(0).integers(0, 256, (1, 32, 32, 1), np.uint8))


def test_pix2pix_prunes_every_unet_layer_but_the_last():
  config = shrunk_config('pix2pix.py', TINY_PIX2PIX)
  family, state = _random_state(config, 0.3)
  params = state.generator.ema_params
  pruned = pruning.prune_state(config, state, 0.5)
  kept = pruned.kept['generator']
  assert tuple(pruned.config.model.down_widths) == (2, 4, 4)
  assert tuple(pruned.config.model.up_widths) == (2, 4)
  # Encoder kernels [4, 4, in, out]; decoder (transposed) kernels [4, 4, out, in], whose input
  # is [skip from down_i, output of up_(i+1)] below the innermost.
  for layer, axis, count in (('down_0', -1, 2), ('down_1', -1, 4), ('up_1', -2, 2)):
    scores = np.abs(np.moveaxis(params[layer]['kernel'], axis, -1)).sum((0, 1, 2))
    assert kept[layer] == np.sort(np.argsort(scores)[-count:]).tolist()
  g = pruned.state.generator.ema_params
  np.testing.assert_array_equal(
      g['down_1']['kernel'], params['down_1']['kernel'][:, :, kept['down_0']][..., kept['down_1']])
  up_1_inputs = np.concatenate([kept['down_1'], 8 + np.array(kept['up_2'])])
  np.testing.assert_array_equal(g['up_1']['kernel'],
                                params['up_1']['kernel'][:, :, kept['up_1']][..., up_1_inputs])
  np.testing.assert_array_equal(
      g['up_0']['kernel'],
      params['up_0']['kernel'][..., np.concatenate([kept['down_0'], 4 + np.array(kept['up_1'])])])
  unread = _unread(params, {
      'down_1': [(-2, 0, 4, kept['down_0'])], 'down_2': [(-2, 0, 8, kept['down_1'])],
      'up_2': [(-1, 0, 8, kept['down_2'])],
      'up_1': [(-1, 0, 8, kept['down_1']), (-1, 8, 8, kept['up_2'])],
      'up_0': [(-1, 0, 4, kept['down_0']), (-1, 4, 4, kept['up_1'])]})
  inputs = np.random.default_rng(0).integers(0, 256, (1, 32, 32, 1), np.uint8)
  _assert_computes_the_unread_original(pruned, family, state,
                                       _with_ema(state, 'generator', unread), inputs)


def test_the_command_line_writes_a_cheaper_run_that_loads(teacher, tmp_path):
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



def test_keep_one_resumes_as_the_uninterrupted_run(teacher, tmp_path):
  out = str(tmp_path / 'pruned')
  pruning.prune_run(teacher, out, 1.0, step=5)
  config = config_lib.load_config(os.path.join(out, 'config.py'))  # the run's config.json
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


@pytest.mark.parametrize('config_file, shrink, field', [
    ('srresnet.py', TINY_SRRESNET, 'block_widths'), ('cyclegan.py', TINY_CYCLEGAN, 'block_widths'),
    ('pix2pix.py', TINY_PIX2PIX, 'down_widths'), ('pix2pix.py', TINY_PIX2PIX, 'up_widths')])
def test_width_fields_of_another_length_are_a_config_error(config_file, shrink, field):
  config = shrunk_config(config_file, shrink)
  with config.unlocked():
    config.model[field] = (4,)
  with pytest.raises(config_lib.ConfigError, match=f'config.model.{field}=\\(4,\\) must be'):
    families.make(config)
