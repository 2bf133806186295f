"""The style-transfer objective against a PyTorch twin (torchvision's VGG16 layout with the same
weights; Gatys et al.'s formulas written in torch), its gradient w.r.t. the image, the Gram
matrix against its formula, YIQ against scikit-image, and the objective's config checks."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
import torch
from skimage import color

from jaxgan import config_lib
from jaxgan.pretrained import vgg16
from jaxgan.style import objective as style_transfer
from torch_twins import IMAGENET_MEAN, IMAGENET_STD, to_torch, vgg16_layers


@pytest.fixture(scope='module')
def params():
  return vgg16.load_params()


def _torch_features(layers, x: torch.Tensor, wanted) -> dict:
  """Activations at `wanted` of the twin on NCHW images in [-1, 1] (autograd on)."""
  x = ((x + 1) / 2 - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(
      IMAGENET_STD)[:, None, None]
  found = {}
  for name, layer in layers:
    x = layer(x)
    if name in wanted:
      found[name] = x
    if len(found) == len(wanted):
      return found
  return found


def _torch_gram(f: torch.Tensor) -> torch.Tensor:
  n, c, h, w = f.shape
  flat = f.reshape(n, c, h * w)
  return flat @ flat.transpose(1, 2) / (c * h * w)


def _torch_objective(layers, objective, image, content, style) -> dict:
  """Gatys et al.'s terms as the style_transfer docstring writes them, in torch."""
  x = to_torch(image).requires_grad_(True)
  mine = _torch_features(layers, x, objective.layers)
  with torch.no_grad():
    target = _torch_features(layers, to_torch(content), objective.content_layers)
    style_features = _torch_features(layers, to_torch(style), objective.style_layers)
  content_loss = sum(torch.mean((mine[l] - target[l]) ** 2)
                     for l in objective.content_layers) / len(objective.content_layers)
  style_loss = sum(torch.sum((_torch_gram(mine[l]) - _torch_gram(style_features[l])) ** 2) / 4
                   for l in objective.style_layers) / len(objective.style_layers)
  tv = (torch.sum((x[:, :, 1:] - x[:, :, :-1]) ** 2)
        + torch.sum((x[:, :, :, 1:] - x[:, :, :, :-1]) ** 2)) / x[0].numel()
  total = (objective.content_weight * content_loss + objective.style_weight * style_loss
           + objective.tv_weight * tv)
  total.backward()
  values = {'content_loss': content_loss, 'style_loss': style_loss, 'tv_loss': tv,
            'total': total}
  return {k: float(v.detach()) for k, v in values.items()}, x.grad.numpy().transpose(0, 2, 3, 1)


@pytest.mark.parametrize('content_layers,style_layers', [
    (style_transfer.GATYS_CONTENT_LAYERS, style_transfer.GATYS_STYLE_LAYERS),
    (style_transfer.JOHNSON_CONTENT_LAYERS, style_transfer.JOHNSON_STYLE_LAYERS)])
def test_losses_and_image_gradient_match_a_pytorch_twin(params, content_layers, style_layers):
  rng = np.random.default_rng(0)
  image, content = rng.uniform(-1, 1, (2, 1, 36, 44, 3)).astype(np.float32)
  style = rng.uniform(-1, 1, (1, 52, 40, 3)).astype(np.float32)  # another size than the image
  objective = style_transfer.Objective(content_layers, style_layers, 1.0, 1e4, 0.5)
  expected, expected_grad = _torch_objective(vgg16_layers(params), objective, image, content,
                                             style)

  def total(x, params):  # VGG16 as an argument: as closure constants XLA would fold them
    contents = style_transfer.content_targets(params, objective, jnp.asarray(content))
    grams = style_transfer.style_targets(params, objective, jnp.asarray(style))
    terms = style_transfer.losses(params, objective, x, contents, grams)
    return terms['total'][0], terms

  (_, terms), grad = jax.jit(jax.value_and_grad(total, has_aux=True))(jnp.asarray(image), params)
  for name, value in expected.items():
    np.testing.assert_allclose(float(terms[name][0]), value, rtol=1e-4, err_msg=name)
  assert min(expected.values()) > 0
  scale = np.abs(expected_grad).max()
  np.testing.assert_allclose(np.asarray(grad) / scale, expected_grad / scale, atol=1e-4)


def test_losses_are_per_image_and_broadcast_one_style(params):
  rng = np.random.default_rng(1)
  images = jnp.asarray(rng.uniform(-1, 1, (3, 32, 32, 3)), jnp.float32)
  objective = style_transfer.Objective(('relu2_2',), ('relu1_2', 'relu2_2'), 1.0, 10.0, 1.0)
  grams = style_transfer.style_targets(params, objective, images[:1])
  contents = style_transfer.content_targets(params, objective, images[::-1])
  batch = style_transfer.losses(params, objective, images, contents, grams)
  for i in range(3):
    one = style_transfer.losses(params, objective, images[i:i + 1],
                                {k: v[i:i + 1] for k, v in contents.items()}, grams)
    for name in batch:
      np.testing.assert_allclose(batch[name][i], one[name][0], rtol=1e-5)
  assert float(batch['style_loss'][0]) < 1e-10  # image 0 is the style image
  assert float(batch['content_loss'][1]) < 1e-10  # image 1 is its own content (reversed)


def test_gram_matrix_against_its_formula():
  features = np.random.default_rng(1).normal(size=(2, 3, 4, 5)).astype(np.float32)
  flat = features.reshape(2, 12, 5)
  expected = np.stack([f.T @ f for f in flat]) / (5 * 3 * 4)
  np.testing.assert_allclose(style_transfer.gram(jnp.asarray(features)), expected, rtol=1e-5)


def test_total_variation_against_its_formula():
  x = np.random.default_rng(2).normal(size=(2, 5, 7, 3)).astype(np.float32)
  expected = [(np.sum(np.diff(i, axis=0) ** 2) + np.sum(np.diff(i, axis=1) ** 2)) / i.size
              for i in x]
  np.testing.assert_allclose(style_transfer.total_variation(jnp.asarray(x)), expected, rtol=1e-5)


def test_yiq_matches_scikit_image_and_inverts():
  rgb = np.random.default_rng(3).uniform(0, 1, (4, 6, 3)).astype(np.float32)
  yiq = style_transfer.rgb_to_yiq(jnp.asarray(rgb * 2 - 1))
  np.testing.assert_allclose(yiq, color.rgb2yiq(rgb), atol=1e-5)
  np.testing.assert_allclose(style_transfer.yiq_to_rgb(yiq), rgb * 2 - 1, atol=1e-5)


def test_colour_preservation_keeps_the_contents_chroma_and_matches_luminance_moments():
  rng = np.random.default_rng(4)
  content = jnp.asarray(rng.uniform(-0.5, 0.5, (1, 8, 8, 3)), jnp.float32)
  style = jnp.asarray(rng.uniform(-1, 1, (1, 12, 10, 3)), jnp.float32)
  content_y, style_y = style_transfer.luminance_images(content, style)
  assert content_y.shape == (1, 8, 8, 1) and style_y.shape == (1, 12, 10, 1)
  np.testing.assert_allclose([style_y.mean(), style_y.std()], [content_y.mean(), content_y.std()],
                             rtol=1e-4)
  stylized = jnp.asarray(rng.uniform(-0.2, 0.2, (1, 8, 8, 1)), jnp.float32)
  result = style_transfer.with_content_colour(stylized, content)
  result_yiq, content_yiq = style_transfer.rgb_to_yiq(result), style_transfer.rgb_to_yiq(content)
  np.testing.assert_allclose(result_yiq[..., 1:], content_yiq[..., 1:], atol=1e-5)
  np.testing.assert_allclose(result_yiq[..., :1] * 2 - 1, stylized, atol=1e-5)
  np.testing.assert_allclose(style_transfer.with_content_colour(content_y, content), content,
                             atol=1e-5)


@pytest.mark.parametrize('field,value,message', [
    ('content_layers', ('relu9_1',), 'content_layers must name VGG16 layers'),
    ('style_layers', (), 'style_layers must name VGG16 layers'),
    ('tv_weight', -1.0, 'tv_weight must be >= 0')])
def test_objective_config_errors(field, value, message):
  block = ml_collections.ConfigDict({
      'content_layers': ('relu4_2',), 'style_layers': ('relu1_1',), 'content_weight': 1.0,
      'style_weight': 1.0, 'tv_weight': 0.0})
  block[field] = value
  with pytest.raises(config_lib.ConfigError, match=f'config.style: {message}'):
    style_transfer.Objective.from_config(block)
