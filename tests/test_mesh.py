"""The 2-D mesh (jaxgan/training/mesh.py) and gradient accumulation (jaxgan/training/gradients.py):
the sharding rules on hand shapes, every mesh shape of the 4 simulated devices training like one
device, per-device state bytes from the arrays' shards, checkpoints restored across mesh shapes
bitwise, micro-batches equal to the whole batch, and refusals before anything is written."""
import logging
import os
import re
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from conftest import TINY_DCGAN
from conftest import final_state
from conftest import run_compiled_steps
from conftest import run_in_process
from conftest import shrunk_config
from conftest import tiny_dcgan_config
from conftest import tiny_dcgan_flags
from jaxgan import config_lib
from jaxgan import families
from jaxgan.training import checkpoints
from jaxgan.training import gradients
from jaxgan.training import mesh as mesh_lib
from jaxgan.training import trainer as train
from test_image_to_image import TINY_I2I
from test_super_resolution import tiny_sr_config
from zoo_testing import tiny_zoo_config

# Every leaf the rules can split is split: the tiny configs' leaves are all under the default.
SHARD_ALL = {'mesh__min_sharded_bytes': 0}


def _leaves(tree):
  return jax.tree.leaves(jax.device_get(tree))


def _max_difference(a, b) -> float:
  return max(float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))))
             for x, y in zip(_leaves(a), _leaves(b)))


def test_rules_on_hand_shapes():
  mesh = mesh_lib.make_mesh(data=1, fsdp=2, model=2)
  assert dict(mesh.shape) == {'data': 1, 'fsdp': 2, 'model': 2}

  def spec(shape, dtype=np.float32, min_bytes=0):
    return mesh_lib.leaf_spec(shape, np.dtype(dtype), mesh, min_bytes)

  assert spec((3, 3, 8, 16)) == P(None, None, 'fsdp', 'model')  # HWIO: out on model, then 8
  assert spec((6, 10)) == P('fsdp', 'model')  # dense (in, out)
  assert spec((7, 10)) == P(None, 'model')  # nothing else divisible by fsdp
  assert spec((10,)) == P('fsdp')  # a bias: rank 1 has no output-channel rule
  assert spec((4, 4, 2, 4)) == P(None, None, 'fsdp', 'model')  # channels, not the larger 4x4 window
  assert spec((4, 4, 3, 5)) == P()  # no channel divisible: the window stays whole
  assert spec((3, 3, 8, 16), np.int32) == P()  # counters, keys: never split
  assert spec((3, 3, 8, 16), min_bytes=4 * 3 * 3 * 8 * 16 + 1) == P()  # under the threshold
  assert spec((3, 3, 8, 16), min_bytes=4 * 3 * 3 * 8 * 16) != P()
  assert mesh_lib.data_sharding(mesh).spec == P(('data', 'fsdp'))


def test_gradient_accumulation_is_the_whole_batch_gradient():
  """A least-squares objective: k = 4 micro-batches give the whole batch's loss and gradient,
  per-example Rows back in batch order, collections averaged, and keys folded per micro-batch."""
  rng = np.random.default_rng(0)
  x, y = rng.normal(size=(8, 3)).astype(np.float32), rng.normal(size=(8,)).astype(np.float32)
  w = rng.normal(size=(3,)).astype(np.float32)
  seen_keys = []

  def objective(w, inputs, key):
    x, y = inputs
    seen_keys.append(key)
    predictions = x @ w
    loss = jnp.mean((predictions - y) ** 2)
    return loss, {'rows': gradients.Rows(predictions), 'mean_x': jnp.mean(x, axis=0)}

  (loss, aux), grad = jax.jit(
      lambda w: gradients.value_and_grad(objective, w, (x, y), jax.random.key(0), 4))(w)
  np.testing.assert_allclose(loss, np.mean((x @ w - y) ** 2), rtol=1e-6)
  np.testing.assert_allclose(grad, 2 * x.T @ (x @ w - y) / 8, rtol=1e-5)
  np.testing.assert_allclose(aux['rows'], x @ w, rtol=1e-6)
  np.testing.assert_allclose(aux['mean_x'], x.mean(axis=0), rtol=1e-5, atol=1e-7)
  (_, whole), _ = gradients.value_and_grad(objective, w, (x, y), jax.random.key(0), 1)
  assert isinstance(whole['rows'], jax.Array)  # unwrapped at k = 1 too
  # Micro-batch i holds rows i, i + 4: on a batch split over devices each keeps its own rows.
  split = gradients.split_microbatches(np.arange(8), 4)
  np.testing.assert_array_equal(split, [[0, 4], [1, 5], [2, 6], [3, 7]])
  np.testing.assert_array_equal(gradients.merge_microbatches(split), np.arange(8))


@pytest.mark.parametrize('name, make', [
    # gan_mlp: no batch norm or dropout, so micro-batches equal the whole batch; DCGAN's G has
    # batch norm, which normalizes each micro-batch by its own statistics.
    ('gan', lambda: tiny_zoo_config('gan_mlp')),
    ('vae', lambda: shrunk_config('vae.py', {'train.batch_size': 8, 'train.num_steps': 3,
                                             'model.hidden_widths': (16,),
                                             'model.latent_dim': 4})),
])
def test_four_microbatches_equal_the_whole_batch(name, make):
  del name
  whole, whole_history, _ = run_compiled_steps(make(), 3, jax.devices()[:1])
  config = make()
  config.train.microbatches = 4
  accumulated, history, _ = run_compiled_steps(config, 3, jax.devices()[:1])
  for a, b in zip(whole_history, history):
    for metric in a:
      np.testing.assert_allclose(b[metric], a[metric], rtol=1e-5, atol=1e-6)
  assert _max_difference(whole, accumulated) < 1e-5  # measured: 6e-8 (GAN), 1.2e-6 (VAE)


# data=4 alone: tests/test_train.py (one and four devices).
# (mesh axes, the spec of G's (5, 5, 8, 4) ConvTranspose_1 kernel by the rules)
MESHES = [(dict(data=2, fsdp=2), P(None, None, 'fsdp', None)),
          (dict(data=1, model=4), P(None, None, None, 'model')),
          (dict(data=1, fsdp=2, model=2), P(None, None, 'fsdp', 'model'))]


@pytest.fixture(scope='module')
def one_device_dcgan():
  config = tiny_dcgan_config(**SHARD_ALL)
  state, history, _ = run_compiled_steps(config, 10, jax.devices()[:1])
  return jax.device_get(state), history


@pytest.mark.parametrize('axes, kernel_spec', MESHES,
                         ids=[','.join(f'{k}={v}' for k, v in axes.items()) for axes, _ in MESHES])
def test_every_mesh_trains_like_one_device(axes, kernel_spec, one_device_dcgan):
  """Tiny DCGAN, 10 compiled steps: losses and the whole state (parameters, EMA, Adam moments,
  batch statistics) within float tolerance of one device; the state really is split."""
  config = tiny_dcgan_config(**SHARD_ALL, **{f'mesh__{k}': v for k, v in axes.items()})
  state, history, _ = run_compiled_steps(config, 10)
  reference, reference_history = one_device_dcgan
  for one, many in zip(reference_history, history):
    for metric in ('discriminator_loss', 'generator_loss', 'discriminator_real'):
      np.testing.assert_allclose(many[metric], one[metric], rtol=1e-4, atol=1e-6)
  assert _max_difference(reference, state) < 1e-4  # measured: at most 3.2e-7 over 10 steps
  assert state.generator.params['ConvTranspose_1']['kernel'].sharding.spec == kernel_spec
  assert state.generator.opt_state[0].mu['ConvTranspose_1']['kernel'].sharding.spec == kernel_spec


# Other families at tiny size on the mesh of every axis (fsdp=2 x model=2), 3 compiled steps:
# a ResNet GAN (n_dis=5, spectral norm), a VAE, pix2pix (instance norm, dropout, a conditional
# PatchGAN) and SRResNet (sub-pixel upsampling).
OTHER_FAMILIES = {
    'hinge_resnet': lambda **o: tiny_zoo_config('hinge_resnet', **o),
    'vae': lambda **o: shrunk_config('vae.py', {'train.batch_size': 8, 'model.hidden_widths': (16,),
                                                'model.latent_dim': 4}, **o),
    'pix2pix': lambda **o: shrunk_config('pix2pix.py', TINY_I2I, **o),
    'srresnet': lambda **o: tiny_sr_config(**o),
}


def _relative_difference_by_part(a, b) -> dict:
  """||a - b|| / ||a|| over each network's parameters, EMA, Adam moments and collections.

  Per part rather than per leaf: a conv bias followed by a normalization has a gradient that
  cancels in exact arithmetic, so its entries are rounding noise that Adam turns into +-lr
  moves on either run (relative differences of O(1) in those leaves, 1e-4 of their part)."""
  sums = {}
  for (path, x), y in zip(jax.tree_util.tree_leaves_with_path(jax.device_get(a)), _leaves(b)):
    names = [getattr(k, 'name', None) or getattr(k, 'key', None) for k in path]
    names = [n for n in names if isinstance(n, str)]  # not tuple (opt_state) positions
    part = ' '.join(names[:3] + [n for n in names[3:4] if n in ('mu', 'nu')])
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    done = sums.setdefault(part, [0.0, 0.0])
    done[0] += float(np.sum((x - y) ** 2))
    done[1] += float(np.sum(x ** 2))
  return {part: (d / n) ** 0.5 if n else d ** 0.5 for part, (d, n) in sums.items()}


@pytest.mark.parametrize('name', sorted(OTHER_FAMILIES))
def test_other_families_train_like_one_device_on_a_2d_mesh(name):
  """Every metric, and each network's parameters, EMA, Adam moments and collections, within float
  tolerance of one device, with the state split over both axes."""
  make = OTHER_FAMILIES[name]
  reference, reference_history, _ = run_compiled_steps(make(**SHARD_ALL), 3, jax.devices()[:1])
  state, history, _ = run_compiled_steps(make(**SHARD_ALL, mesh__data=1, mesh__fsdp=2,
                                              mesh__model=2), 3)
  for one, many in zip(reference_history, history):
    assert one.keys() == many.keys()
    for metric in one:
      np.testing.assert_allclose(many[metric], one[metric], rtol=1e-4, atol=1e-6, err_msg=metric)
  differences = _relative_difference_by_part(reference, state)
  # measured: at most 2.6e-4 (pix2pix's parameters), 9.3e-5 (the ResNet GAN's G), 3e-8 (VAE, SR)
  assert max(differences.values()) < 1e-3, differences
  specs = {leaf.sharding.spec for leaf in jax.tree.leaves(state)}
  assert any('fsdp' in spec for spec in specs) and any('model' in spec for spec in specs)


def test_fsdp_state_bytes_per_device_are_a_quarter_from_the_shards():
  """fsdp=4 on 4 devices: each device holds <= 1/4 of the replicated state + 5 %, summed from
  the arrays' own shards."""
  replicated = families.init_state(families.make(tiny_dcgan_config()),
                                   mesh_lib.make_mesh(data=4))
  whole = sum(x.nbytes for x in jax.tree.leaves(replicated))
  assert mesh_lib.bytes_per_device(replicated) == whole
  config = tiny_dcgan_config(mesh__data=1, mesh__fsdp=4, **SHARD_ALL)
  sharded = families.init_state(families.make(config), mesh_lib.mesh_from_config(config))
  per_device = mesh_lib.bytes_per_device(sharded)
  assert per_device <= whole / 4 * 1.05, (per_device, whole)  # measured: 0.2501 of whole


def test_frozen_teacher_follows_the_rules(trained_run):
  """Distillation's frozen teacher is sharded by the same rules, with the same values."""
  teacher = trained_run(tiny_dcgan_config())
  shrink = {k: v for k, v in TINY_DCGAN.items() if k != 'model.generator_widths'}
  config = shrunk_config('distill.py', shrink, distill__teacher=teacher, mesh__data=1,
                         mesh__fsdp=4, **SHARD_ALL)
  family = families.make(config)
  state = families.init_state(family, mesh_lib.mesh_from_config(config))
  kernel = state.frozen['teacher_generator']['params']['ConvTranspose_1']['kernel']
  assert kernel.sharding.spec == P(None, None, 'fsdp', None)  # (5, 5, 8, 4): 8 is largest
  assert all(np.array_equal(a, b) for a, b in zip(_leaves(state.frozen),
                                                  _leaves(family.frozen_params())))


def test_checkpoint_restores_bitwise_into_other_mesh_shapes_and_resumes(trained_run, tmp_path,
                                                                       caplog):
  """The shared run saved on data=4 restores into data=2 x fsdp=2 and into one device with
  bitwise-equal state; resumed from step 5 on data=2 x fsdp=2 it ends where the straight
  data=4 run ends (within float tolerance: another summation order)."""
  config = tiny_dcgan_config()
  workdir = trained_run(config)
  saved = final_state(workdir, config)
  family = families.make(config)
  checkpointer = checkpoints.Checkpointer(os.path.join(workdir, 'checkpoints'),
                                          family.fingerprint(), 10)
  for axes, devices in ((dict(data=2, fsdp=2), None), (dict(), jax.devices()[:1])):
    mesh_config = tiny_dcgan_config(**SHARD_ALL, **{f'mesh__{k}': v for k, v in axes.items()})
    mesh = mesh_lib.mesh_from_config(mesh_config, devices)
    target = families.init_state(families.make(mesh_config), mesh)
    restored, _ = checkpointer.restore(target)
    assert families.sharding_of(restored) == families.sharding_of(target)
    for a, b in zip(_leaves(saved), _leaves(restored)):
      np.testing.assert_array_equal(a, b)
  checkpointer.close()

  resumed = str(tmp_path / 'resumed')
  shutil.copytree(workdir, resumed)
  shutil.rmtree(os.path.join(resumed, 'checkpoints', '10'))
  with caplog.at_level(logging.INFO, logger='absl'):
    state = train.train_and_evaluate(
        tiny_dcgan_config(mesh__data=2, mesh__fsdp=2, **SHARD_ALL), resumed)
  assert state.generator.params['ConvTranspose_1']['kernel'].sharding.spec != P()
  assert _max_difference(saved, state) < 1e-4
  # The memory line after compiling: the state's bytes on one device, from its shards.
  memory = [r.getMessage() for r in caplog.records if 'Per device: state' in r.getMessage()]
  assert len(memory) == 1
  assert f'state {mesh_lib.bytes_per_device(state):,} bytes' in memory[0]
  assert re.search(r'step temporaries [\d,]+ bytes', memory[0]), memory[0]


@pytest.mark.parametrize('overrides, message', [
    ({'mesh__fsdp': 3}, 'config.mesh data=-1, fsdp=3, model=1 does not multiply to the 4 '),
    ({'mesh__data': 2, 'mesh__model': 4}, 'does not multiply to the 4 devices'),
    ({'train__microbatches': 3}, 'config.train.microbatches=3 must be a positive integer'),
    ({'train__microbatches': 4}, 'use a divisor of 2'),  # 8 rows over 4 devices: 2 each
])
def test_bad_mesh_or_microbatches_is_one_error_before_anything_is_written(overrides, message,
                                                                          tmp_path):
  workdir = tmp_path / 'run'
  with pytest.raises(config_lib.ConfigError, match=message):
    train.train_and_evaluate(tiny_dcgan_config(**overrides), str(workdir))
  assert not workdir.exists()


def test_unknown_mesh_axis_is_one_fatal_line(tmp_path, capsys):
  config = tiny_dcgan_config()
  with config.unlocked():
    config.mesh.tensor = 2
  with pytest.raises(config_lib.ConfigError, match=r"Unknown mesh axes \['tensor'\]"):
    config_lib.validate(config, 4)
  code = run_in_process('jaxgan.main', *tiny_dcgan_flags(), '--config.mesh.tensor=2',
                        f'--workdir={tmp_path / "run"}')
  err = capsys.readouterr().err
  assert code == 2 and len([l for l in err.splitlines() if l.startswith('FATAL')]) == 1, err
  assert not (tmp_path / 'run').exists()
