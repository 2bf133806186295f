"""What the PyTorch-twin tests of Flax networks share: layout conversions, random variables on a
module's shapes, copying a Flax convolution into its PyTorch twin, and torchvision's VGG16
features holding jaxgan's VGG16 weights."""
import jax
import numpy as np
import torch
from torch import nn as tnn

# torchvision's vgg16 `features` configuration ('M': 2x2 max pool).
VGG16_CFG = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M',
             512, 512, 512, 'M']
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def to_torch(images) -> torch.Tensor:
  """NHWC numpy -> NCHW float32 tensor."""
  return torch.from_numpy(np.asarray(images, np.float32).transpose(0, 3, 1, 2).copy())


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
  """NCHW tensor -> NHWC numpy."""
  return tensor.detach().numpy().transpose(0, 2, 3, 1)


def tensor(array) -> torch.Tensor:
  return torch.from_numpy(np.array(array, np.float32))


def random_variables(module, *args, seed: int = 0, random_statistics: bool = True, **kwargs):
  """Random variables on the shapes `module.init` would give (jax.eval_shape: nothing compiled,
  which saves seconds per layer on a loaded CPU): kernels N(0, 1/fan_in), norm scales 1 + N(0,
  0.2), biases N(0, 0.1), all away from their init so a swapped or skipped copy shows; batch-norm
  running means N(0, 0.1) and variances exp(N(0, 0.2)), or 0 and 1 without
  `random_statistics`."""
  shapes = jax.eval_shape(lambda: module.init(jax.random.key(0), *args, **kwargs))
  rng = np.random.default_rng(seed)

  def draw(path, leaf):
    name, noise = jax.tree_util.keystr(path), rng.normal(size=leaf.shape).astype(np.float32)
    if not random_statistics and ("'var'" in name or "'mean'" in name):
      return np.full(leaf.shape, float("'var'" in name), np.float32)
    if "'var'" in name:
      return np.exp(0.2 * noise)
    if "'scale'" in name:
      return 1 + 0.2 * noise
    if "'kernel'" in name:
      return noise / np.float32(np.sqrt(np.prod(leaf.shape[:-1])))
    return 0.1 * noise
  return jax.tree_util.tree_map_with_path(draw, shapes)


def copy_conv(layer: tnn.Module, params: dict) -> tnn.Module:
  """Flax conv (HWIO) or transposed conv ([kh, kw, out, in]) -> PyTorch (OIHW / [in, out, kh,
  kw]): both are transpose(3, 2, 0, 1). A layer without bias must have none in Flax too."""
  layer.weight.data = tensor(np.asarray(params['kernel']).transpose(3, 2, 0, 1))
  assert (layer.bias is None) == ('bias' not in params)
  if layer.bias is not None:
    layer.bias.data = tensor(params['bias'])
  return layer


def vgg16_layers(params) -> list:
  """[(name, module)] of torchvision's vgg16().features, named as in the VGG paper."""
  layers, block, index, channels = [], 1, 1, 3
  for v in VGG16_CFG:
    if v == 'M':
      layers.append((f'pool{block}', torch.nn.MaxPool2d(2, 2)))
      block, index = block + 1, 1
      continue
    name = f'{block}_{index}'
    conv = torch.nn.Conv2d(channels, v, 3, padding=1)
    with torch.no_grad():
      conv.weight.copy_(torch.from_numpy(np.asarray(params[f'conv{name}']['kernel']).transpose(
          3, 2, 0, 1)))  # HWIO -> OIHW
      conv.bias.copy_(torch.from_numpy(np.asarray(params[f'conv{name}']['bias'])))
    layers += [(f'conv{name}', conv), (f'relu{name}', torch.nn.ReLU())]
    index, channels = index + 1, v
  return layers
