"""A trained run's EMA network as a TensorFlow SavedModel (jax2tf), for use outside JAX.

  python -m jaxgan.export --workdir=runs/dcgan --out=export/dcgan [--step=N]

  import tensorflow as tf
  model = tf.saved_model.load('export/dcgan')
  images = model.signatures['serving_default'](latents=tf.random.normal([4, 100]))['images']

Signatures (the batch dimension is always polymorphic; DIR/signatures.json lists each one's
inputs and outputs with their dtypes and shapes, symbolic dimensions as strings):
  'generate' runs   serving_default: latents float32 [batch, latent_dim], plus labels int32
                    [batch] for a conditional run (label_classes > 0) -> {'images': uint8
                    [batch, H, W, C]}
  'translate' runs  serving_default: images uint8 [batch, h, w, C] -> {'images': uint8}; h and w
                    are symbolic where the network converts with them (e.g. a 2x upsampler gives
                    [batch, 2*h, 2*w, C]), else fixed at the training input size (the reason
                    is in signatures.json). No tiling: a large image is one call.
  unpaired runs     translate_a2b and translate_b2a (serving_default = translate_a2b)
  'inpaint' runs    serving_default: images uint8 [batch, h, w, C] and masks uint8
                    [batch, h, w, 1] (1 = missing) -> {'images': uint8}
Runs with only 'sample' (PixelCNN draws pixel by pixel with a random key) are refused; jaxgan.load
serves them from Python.

Outputs are images.to_uint8 of the network's [-1, 1] images, computed inside the graph
(images.UINT8_FORMULA). The graph is the StableHLO jax lowers (jax2tf native serialization), so
TensorFlow's XLA runs the same computation as jaxlib; the two XLA builds may still fuse differently
(tests/test_export.py allows 1 uint8 level on a small fraction of pixels). Weights are tf.Variables
(SavedModel variables, not graph constants) for exactly the state leaves the signatures read, found
from their jaxprs: optimizer moments, discriminators and frozen pretrained networks are not saved.
DIR also holds the run's config.json and eval_results.json (api.Model.info's); it is written to a
temporary folder beside DIR and renamed into place, and an existing non-empty DIR is refused.
"""
import json
import os
import re
import shutil
import tempfile
import time
from typing import Callable, NamedTuple

import jax
import numpy as np

from jaxgan import config_lib
from jaxgan import platform
from jaxgan.data import images as image_lib
from jaxgan.families import base
from jaxgan.inference import api
from jaxgan.inference import cost


class Input(NamedTuple):
  """A signature input: its name, numpy dtype and dims (int, or a symbol such as 'batch')."""
  name: str
  dtype: type
  dims: tuple


class Signature(NamedTuple):
  """fn(state, *inputs) -> [-1, 1] images, with its inputs; `direction` of an unpaired run's
  translation; `fixed` says why the spatial size is the training one (None: symbolic or none)."""
  name: str
  fn: Callable
  inputs: tuple[Input, ...]
  direction: str | None = None
  fixed: str | None = None


def check_out_dir(out_dir: str) -> None:
  """A ValueError unless `out_dir` is absent or an empty folder."""
  if os.path.isfile(out_dir) or (os.path.isdir(out_dir) and os.listdir(out_dir)):
    raise ValueError(f'{out_dir} exists and is not empty; pass a new --out (an export is '
                     'never written over another).')


def signatures(model: api.Model) -> list[Signature]:
  """The run's exportable functions (see module doc), spatial sizes still symbolic; a
  ConfigError for a run that has none."""
  family = model.family
  if model.can('generate'):
    latents = Input('latents', np.float32, ('batch', family.latent_dim))
    if family.label_classes:
      return [Signature('serving_default', family.generate,
                        (latents, Input('labels', np.int32, ('batch',))))]
    return [Signature('serving_default', lambda state, z: family.generate(state, z), (latents,))]

  def images(direction=None):
    return Input('images', np.uint8, ('batch', 'h', 'w', model.input_channels(direction)))
  if model.can('bidirectional'):
    return [Signature(f'translate_{d}', lambda state, x, d=d: family.translate_direction(
        state, x, d), (images(d),), d) for d in ('a2b', 'b2a')]
  if model.can('translate'):
    return [Signature('serving_default', family.translate, (images(),))]
  if model.can('inpaint'):
    return [Signature('serving_default', family.inpaint,
                      (images(), Input('masks', np.uint8, ('batch', 'h', 'w', 1))))]
  raise config_lib.ConfigError(
      f'A {model.config.family!r} run cannot be exported: a SavedModel is written for runs that '
      f"generate from latents, translate or inpaint (this one offers {sorted(model.capabilities)}"
      '); jaxgan.load(workdir).sample(...) serves it from Python.')


def _shape(dims: tuple) -> str:
  return ', '.join(str(d) for d in dims)


def _jaxpr(signature: Signature, leaves: list, treedef) -> jax.extend.core.ClosedJaxpr:
  """The signature's jaxpr as a function of (state leaves, *inputs), symbolic dims shared."""
  scope = jax.export.SymbolicScope()
  specs = [jax.ShapeDtypeStruct(jax.export.symbolic_shape(_shape(i.dims), scope=scope), i.dtype)
           for i in signature.inputs]
  leaf_specs = [jax.ShapeDtypeStruct(np.shape(x), x.dtype) for x in leaves]
  return jax.make_jaxpr(lambda leaves, *inputs: signature.fn(
      jax.tree.unflatten(treedef, leaves), *inputs))(leaf_specs, *specs)


def _trace(model: api.Model, signature: Signature, leaves: list, treedef):
  """(the signature with the spatial size it converts with, its jaxpr): symbolic h, w where
  the network traces with them, else the training input size (and why, in `fixed`)."""
  try:
    return signature, _jaxpr(signature, leaves, treedef)
  except Exception as error:  # pylint: disable=broad-except  # any failure: say it, fall back
    if not any('h' in i.dims for i in signature.inputs):
      raise
    reason = ' '.join(f'{type(error).__name__}: {error}'.split())[:300]
  height, width = base.translation_inputs(model.family, signature.direction).shape[1:3]
  inputs = tuple(i._replace(dims=tuple({'h': height, 'w': width}.get(d, d) for d in i.dims))
                 for i in signature.inputs)
  signature = signature._replace(inputs=inputs, fixed=reason)
  return signature, _jaxpr(signature, leaves, treedef)


def _describe(signature: Signature, jaxpr) -> dict:
  def dims(shape):
    return [d if isinstance(d, int) else str(d) for d in shape]
  (output,) = jaxpr.out_avals
  entry = {'inputs': {i.name: {'dtype': np.dtype(i.dtype).name, 'shape': dims(i.dims)}
                      for i in signature.inputs},
           'outputs': {'images': {'dtype': 'uint8', 'shape': dims(output.shape)}}}
  if any('h' in i.dims for i in signature.inputs):
    entry['spatial'] = 'symbolic'
  elif signature.fixed:
    entry['spatial'] = f'fixed at the training input size (symbolic h, w failed: {signature.fixed})'
  return entry


def _variable_name(path) -> str:
  return re.sub(r'[^A-Za-z0-9_.]+', '/', jax.tree_util.keystr(path)).strip('/')


def _tf_function(signature: Signature, leaves: list, treedef, used: list[int], variables: dict):
  """A tf.function of the signature's inputs -> {'images': uint8}, reading the state leaves
  `used` from `variables` (index -> tf.Variable) and no other."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from jax.experimental import jax2tf  # pylint: disable=g-import-not-at-top

  def on_used(used_values, *inputs):
    full = list(leaves)  # the rest are never read: they do not enter the graph
    for index, value in zip(used, used_values):
      full[index] = value
    return image_lib.to_uint8(signature.fn(jax.tree.unflatten(treedef, full), *inputs))
  converted = jax2tf.convert(on_used, with_gradient=False, polymorphic_shapes=[
      None, *[_shape(i.dims) for i in signature.inputs]])
  weights = [variables[i] for i in used]
  specs = [tf.TensorSpec([d if isinstance(d, int) else None for d in i.dims],
                         tf.as_dtype(i.dtype), name=i.name) for i in signature.inputs]

  @tf.function(input_signature=specs, autograph=False)
  def serve(*inputs):
    return {'images': converted(weights, *inputs)}
  return serve.get_concrete_function()


def export_model(model: api.Model, out_dir: str) -> dict:
  """Writes `model` (its EMA network) as a SavedModel in `out_dir` with config.json,
  eval_results.json and signatures.json; returns what signatures.json holds. Refuses (before
  writing anything) an existing non-empty `out_dir` and a run with nothing to export.
  The returned dict also has the export's wall time in 'seconds'."""
  check_out_dir(out_dir)
  missing = platform.missing_tensorflow('jaxgan.export (a TensorFlow SavedModel)')
  if missing:
    raise ValueError(missing)
  start = time.perf_counter()
  wanted = [s._replace(fn=model.served(s.fn)) for s in signatures(model)]  # int8: dequantized
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.get_logger().setLevel('ERROR')  # not a line per saved file
  with_paths, treedef = jax.tree_util.tree_flatten_with_path(model.state)
  leaves = [leaf for _, leaf in with_paths]
  traced = [_trace(model, signature, leaves, treedef) for signature in wanted]
  used = [cost.used_leaves(jaxpr, len(leaves)) for _, jaxpr in traced]
  kept = sorted(set().union(*used))
  variables = {i: tf.Variable(np.asarray(leaves[i]), trainable=False,
                              name=_variable_name(with_paths[i][0])) for i in kept}
  functions = {s.name: _tf_function(s, leaves, treedef, u, variables)
               for (s, _), u in zip(traced, used)}
  if model.can('bidirectional'):
    functions['serving_default'] = functions['translate_a2b']
  module = tf.Module()
  module.weights = [variables[i] for i in kept]
  description = {
      'family': model.config.family, 'step': model.step, 'workdir': model.info['workdir'],
      'signatures': {s.name: _describe(s, jaxpr) for s, jaxpr in traced},
      'uint8': image_lib.UINT8_FORMULA,
      'quantization': model.quantization,
      'weights': {'variables': len(kept), 'parameters': int(sum(np.size(leaves[i]) for i in kept)),
                  'bytes': int(sum(np.asarray(leaves[i]).nbytes for i in kept)),
                  'state_leaves_not_saved': len(leaves) - len(kept)},
      'versions': {'jax': jax.__version__, 'tensorflow': tf.__version__},
  }
  if model.can('bidirectional'):
    description['serving_default'] = 'translate_a2b'
  parent = os.path.dirname(os.path.abspath(out_dir))
  os.makedirs(parent, exist_ok=True)
  staging = tempfile.mkdtemp(prefix=f'.{os.path.basename(os.path.abspath(out_dir))}.', dir=parent)
  try:
    tf.saved_model.save(module, staging, signatures=functions)
    shutil.copy(os.path.join(model.workdir, 'config.json'), staging)
    files = {'eval_results.json': model.info['eval_results'], 'signatures.json': description}
    for name, content in files.items():
      with open(os.path.join(staging, name), 'w') as f:
        json.dump(content, f, indent=2)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp's 0o700 is for while it is written
    if os.path.isdir(out_dir):
      os.rmdir(out_dir)  # empty (checked above)
    os.rename(staging, out_dir)
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise
  description['seconds'] = time.perf_counter() - start
  return description
