"""jaxgan.serve started as a subprocess on a free local port and driven by a real HTTP client
(httpx): /sample images equal jaxgan.load(run).sample's exactly, alone or batched with 49
concurrent others; /translate and inpainting equal the api's; every bad input gets a 4xx with
one JSON line and the server keeps serving. The reference images come from jaxgan.load in this
process, which runs with the command lines' XLA flags (conftest)."""
import base64
import concurrent.futures
import io
import os
import socket
import struct
import subprocess
import sys
import time
import zlib

import httpx
import numpy as np
from PIL import Image
import pytest

import jaxgan
from conftest import REPO
from conftest import shrunk_config
from conftest import tiny_dcgan_config
from jaxgan.data import image_sets
from jaxgan.data import images as image_lib
from jaxgan import families
from jaxgan.inference import api
from test_image_to_image import tiny_pconv_config
from test_super_resolution import PSNR_RUN, tiny_sr_config
from test_unpaired import TINY_UNPAIRED

class Server:
  """`python -m jaxgan.serve --workdir=... flags` on a free port of 127.0.0.1, with a client."""

  def __init__(self, workdir: str, log_path: str, *flags: str):
    with socket.socket() as probe:
      probe.bind(('127.0.0.1', 0))
      port = probe.getsockname()[1]
    self.workdir, self.log_path = workdir, log_path
    self.log = open(log_path, 'w')
    self.process = subprocess.Popen(
        [sys.executable, '-m', 'jaxgan.serve', f'--workdir={workdir}', f'--port={port}',
         '--noaccess_log', *flags], cwd=REPO, env=dict(os.environ), stdout=self.log,
        stderr=subprocess.STDOUT)
    self.client = httpx.Client(base_url=f'http://127.0.0.1:{port}', timeout=120)

  def wait_until_healthy(self, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
      assert self.process.poll() is None, f'The server exited: {self.log_tail()}'
      try:
        if self.client.get('/healthz').status_code == 200:
          return
      except httpx.TransportError:
        time.sleep(0.2)
    raise TimeoutError(f'No /healthz within {timeout} s: {self.log_tail()}')

  def log_tail(self) -> str:
    with open(self.log_path) as f:
      return f.read()[-3000:]

  def healthy(self) -> bool:
    response = self.client.get('/healthz')
    return response.status_code == 200 and response.json()['status'] == 'ok'

  def close(self) -> None:
    self.client.close()
    self.process.terminate()
    try:
      self.process.wait(20)
    except subprocess.TimeoutExpired:
      self.process.kill()
      self.process.wait()
    self.log.close()


def _serve(trained_run, tmp_path_factory, name: str, config, calls: dict[str, tuple],
           *flags: str):
  """A Server of `config` trained by the trainer (once per session), with server.expected: the
  outputs of getattr(jaxgan.load(workdir), method)(*args) for each (method, *args) of `calls`.
  This process applies the command lines' XLA flags (conftest), so they equal the server's."""
  workdir = trained_run(config)
  model = jaxgan.load(workdir)
  server = Server(workdir, str(tmp_path_factory.mktemp(name) / 'serve.log'), *flags)
  server.expected = {key: getattr(model, method)(*args) for key, (method, *args) in calls.items()}
  server.wait_until_healthy()
  return server


def _concurrent_requests() -> list[dict]:
  """50 /sample requests of 1 to 6 images, two thirds with labels."""
  rng = np.random.default_rng(0)
  requests = []
  for seed in range(50):
    num = int(rng.integers(1, 7))
    labels = {'labels': rng.integers(0, 10, num).tolist()} if seed % 3 else {}
    requests.append({'num': num, 'seed': seed, 'format': 'png_list', **labels})
  return requests


CONCURRENT = _concurrent_requests()
LABELS = [3, 3, 9]
RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (12, 10, 3), np.uint8)
GREY = RNG.integers(0, 256, (8, 9, 1), np.uint8)


@pytest.fixture(scope='module')
def cgan_server(trained_run, tmp_path_factory):
  """A class-conditional tiny DCGAN (projection D), 2 steps; requests of at most 16 images."""
  calls = {'grid': ('sample', 5, 7), 'list': ('sample', 3, 1, LABELS)}
  calls.update({i: ('sample', r['num'], r['seed'], r.get('labels'))
                for i, r in enumerate(CONCURRENT)})
  server = _serve(trained_run, tmp_path_factory, 'cgan', tiny_dcgan_config(
      model__conditioning='projection', train__num_steps=2, train__checkpoint_every=2,
      eval__every_steps=0), calls, '--max_num=16', '--max_batch=16', '--batch_window_ms=20')
  yield server
  server.close()


@pytest.fixture(scope='module')
def gan_server(trained_run, tmp_path_factory):
  """An unconditional tiny DCGAN, 2 steps."""
  server = _serve(trained_run, tmp_path_factory, 'gan', tiny_dcgan_config(
      train__num_steps=2, train__checkpoint_every=2, eval__every_steps=0),
                  {'grid': ('sample', 4, 2)})
  yield server
  server.close()


@pytest.fixture(scope='module')
def sr_server(trained_run, tmp_path_factory):
  """A tiny SRResNet (x4, RGB), 1 step; uploads of at most 50 KiB and 64 pixels a side."""
  server = _serve(trained_run, tmp_path_factory, 'sr', tiny_sr_config(**PSNR_RUN), {
      'rgb': ('translate', RGB), 'grey': ('translate', np.repeat(GREY, 3, axis=-1))},
                  '--max_upload_mb=0.05', '--max_side=64')
  yield server
  server.close()


def _png(image: np.ndarray) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buffer, 'PNG')
  return buffer.getvalue()


def _decode(png: bytes) -> np.ndarray:
  array = np.asarray(Image.open(io.BytesIO(png)))
  return array[..., None] if array.ndim == 2 else array


def _decode_list(response: httpx.Response) -> np.ndarray:
  return np.stack([_decode(base64.b64decode(png)) for png in response.json()['images']])


def _png_header(width: int, height: int) -> bytes:
  """A PNG of `width` x `height` 8-bit grey pixels with no pixel data: what a decompression
  bomb looks like until it is decoded."""
  ihdr = b'IHDR' + struct.pack('>IIBBBBB', width, height, 8, 0, 0, 0, 0)
  return (b'\x89PNG\r\n\x1a\n' + struct.pack('>I', 13) + ihdr
          + struct.pack('>I', zlib.crc32(ihdr)) + struct.pack('>I', 0) + b'IEND'
          + struct.pack('>I', zlib.crc32(b'IEND')))


def _assert_error(response: httpx.Response, status: int, message: str) -> None:
  assert response.status_code == status, response.text
  body = response.json()
  assert list(body) == ['error'] and '\n' not in body['error'], body
  assert message in body['error'], body


# -- Generators -------------------------------------------------------------------------------

def test_healthz_and_info(cgan_server):
  health = cgan_server.client.get('/healthz').json()
  assert (health['status'], health['step']) == ('ok', 2)
  info = cgan_server.client.get('/info').json()
  assert (info['family'], info['step'], info['label_classes'], info['image_shape']) == (
      'gan', 2, 10, [28, 28, 1])
  assert info['service']['max_num'] == 16 and info['config']['model']['latent_dim'] == 8


def test_sample_grid_and_png_list_equal_the_api(cgan_server):
  grid = cgan_server.client.post('/sample', json={'num': 5, 'seed': 7})
  assert grid.headers['content-type'] == 'image/png'
  np.testing.assert_array_equal(_decode(grid.content),
                                image_lib.make_grid(cgan_server.expected['grid']))
  listed = cgan_server.client.post('/sample', json={'num': 3, 'seed': 1, 'labels': LABELS,
                                                    'format': 'png_list'})
  assert {k: v for k, v in listed.json().items() if k != 'images'} == {
      'step': 2, 'seed': 1, 'labels': LABELS}
  np.testing.assert_array_equal(_decode_list(listed), cgan_server.expected['list'])


def test_50_concurrent_requests_are_batched_and_each_equals_its_own_samples(cgan_server):
  before = cgan_server.client.get('/healthz').json()
  with concurrent.futures.ThreadPoolExecutor(50) as pool:
    responses = list(pool.map(lambda r: cgan_server.client.post('/sample', json=r), CONCURRENT))
  after = cgan_server.client.get('/healthz').json()
  assert [r.status_code for r in responses] == [200] * 50
  for i, response in enumerate(responses):
    np.testing.assert_array_equal(_decode_list(response), cgan_server.expected[i])
  assert after['requests'] - before['requests'] == 50
  assert after['model_calls'] - before['model_calls'] < 50  # some requests shared a call
  assert after['status'] == 'ok'


@pytest.mark.parametrize('body, message', [
    ({'num': 0}, 'num must be >= 1'),
    ({'num': 17}, 'num must be <= 16'),
    ({'num': 2.5}, 'num must be an integer'),
    ({'num': '3'}, 'num must be an integer'),
    ({}, 'num is required'),
    ({'num': 2, 'style': 'x'}, 'style is not a field; the fields are num, seed, labels, format'),
    ({'num': 2, 'labels': [0, 10]}, 'labels must lie in [0, 10)'),
    ({'num': 2, 'labels': ['seven', 1]}, 'labels[0] must be an integer'),
    ({'num': 2, 'labels': [1]}, 'labels must be 2 integers'),
    ({'num': 2, 'format': 'jpeg'}, "format must be 'grid' or 'png_list'"),
])
def test_bad_sample_requests_get_one_json_line(cgan_server, body, message):
  _assert_error(cgan_server.client.post('/sample', json=body), 422, message)
  assert cgan_server.healthy()


def test_translate_on_a_gan_and_unknown_routes_say_what_is_served(cgan_server):
  _assert_error(cgan_server.client.post('/translate', content=_png(RGB),
                                        headers={'content-type': 'image/png'}),
                400, "This is a 'gan' run: it has no /translate; it serves /sample.")
  _assert_error(cgan_server.client.get('/predict'), 404, 'POST /sample')
  assert cgan_server.healthy()


@pytest.mark.slow
def test_unconditional_run_samples_and_refuses_labels(gan_server):
  grid = gan_server.client.post('/sample', json={'num': 4, 'seed': 2})
  np.testing.assert_array_equal(_decode(grid.content),
                                image_lib.make_grid(gan_server.expected['grid']))
  _assert_error(gan_server.client.post('/sample', json={'num': 2, 'labels': [0, 1]}), 422,
                'unconditional run: it takes no labels')
  assert gan_server.healthy()


# -- Image to image ---------------------------------------------------------------------------

@pytest.mark.slow
def test_translate_multipart_and_raw_uploads_equal_the_api(sr_server):
  form = sr_server.client.post('/translate', files={'image': ('a.png', _png(RGB), 'image/png')})
  raw = sr_server.client.post('/translate', content=_png(GREY),
                              headers={'content-type': 'image/png'})
  assert form.headers['content-type'] == 'image/png'
  assert sr_server.expected['rgb'].shape == (48, 40, 3)
  np.testing.assert_array_equal(_decode(form.content), sr_server.expected['rgb'])
  np.testing.assert_array_equal(_decode(raw.content), sr_server.expected['grey'])


def _float_tiff() -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(np.zeros((4, 4), np.float32), 'F').save(buffer, 'TIFF')
  return buffer.getvalue()


@pytest.mark.slow
@pytest.mark.parametrize('upload, status, message', [
    ({'files': {'image': ('a.png', b'not an image', 'image/png')}}, 422,
     "The upload 'image' is not an image file PIL can read"),
    ({'content': os.urandom(60_000), 'headers': {'content-type': 'image/png'}}, 413,
     "over this service's limit of 52428 bytes"),
    ({'content': _png_header(65, 8), 'headers': {'content-type': 'image/png'}}, 413,
     "The upload 'image' is 65x8; this service takes images of at most 64 pixels a side"),
    ({'content': _png_header(40_000, 40_000), 'headers': {'content-type': 'image/png'}}, 413,
     "The upload 'image' is too large to decode"),
    ({'files': {'image': ('a.tif', _float_tiff(), 'image/tiff')}}, 422,
     "The upload 'image' has 32-bit F pixels of unknown range"),
    ({'content': b'hello', 'headers': {'content-type': 'text/plain'}}, 415,
     'as a multipart form field "image"'),
    ({'files': {'photo': ('a.png', _png(RGB), 'image/png')}}, 422,
     "Unknown form fields ['photo']"),
    ({'files': {'image': ('a.png', _png(RGB), 'image/png'),
                'mask': ('m.png', _png(GREY), 'image/png')}}, 422,
     "mask is for inpainting runs; this is a 'super_resolution' run"),
    ({'params': {'direction': 'sideways'}, 'content': _png(RGB),
      'headers': {'content-type': 'image/png'}}, 422, 'direction is for unpaired runs'),
])
def test_bad_uploads_get_one_json_line(sr_server, upload, status, message):
  _assert_error(sr_server.client.post('/translate', **upload), status, message)
  assert sr_server.healthy()


@pytest.mark.slow
def test_sample_on_a_translation_run_says_what_it_serves(sr_server):
  _assert_error(sr_server.client.post('/sample', json={'num': 1}), 400,
                "This is a 'super_resolution' run: it has no /sample; it serves /translate.")


@pytest.mark.slow
def test_inpainting_takes_a_mask_and_keeps_known_pixels(trained_run, tmp_path_factory):
  image = RNG.integers(0, 256, (20, 24, 1), np.uint8)
  mask = np.zeros((20, 24, 1), np.uint8)
  mask[4:12, 6:18] = 255
  server = _serve(trained_run, tmp_path_factory, 'inpaint', tiny_pconv_config(),
                  {'filled': ('inpaint', image, mask // 255)})
  try:
    image_file = ('a.png', _png(image), 'image/png')
    _assert_error(server.client.post('/translate', files={'image': image_file}), 422,
                  'send a multipart form with the fields image and mask')
    _assert_error(server.client.post('/translate', files={
        'image': image_file, 'mask': ('m.png', _png(mask[:10]), 'image/png')}), 422,
                  'The mask is 24x10, the image 24x20: they must match')
    filled = server.client.post('/translate', files={
        'image': image_file, 'mask': ('m.png', _png(mask), 'image/png')})
    np.testing.assert_array_equal(_decode(filled.content), server.expected['filled'])
    known = mask[..., 0] == 0
    np.testing.assert_array_equal(server.expected['filled'][known], image[known])
    assert server.healthy()
  finally:
    server.close()


@pytest.mark.slow
def test_unpaired_run_translates_in_the_direction_asked(trained_run, tmp_path_factory):
  config = shrunk_config('discogan.py', TINY_UNPAIRED, train__num_steps=1)
  family = families.make(config)
  images = {d: image_sets.to_channels(RGB, api.input_channels(family, d)) for d in ('a2b', 'b2a')}
  server = _serve(trained_run, tmp_path_factory, 'discogan', config,
                  {d: ('translate', images[d], d) for d in images})
  try:
    for direction, image in images.items():
      response = server.client.post('/translate', params={'direction': direction},
                                    content=_png(image), headers={'content-type': 'image/png'})
      np.testing.assert_array_equal(_decode(response.content), server.expected[direction])
    assert not np.array_equal(server.expected['a2b'], server.expected['b2a'])
    _assert_error(server.client.post('/translate', params={'direction': 'sideways'},
                                     content=_png(RGB), headers={'content-type': 'image/png'}),
                  422, "direction must be 'a2b' or 'b2a', not 'sideways'")
    assert server.healthy()
  finally:
    server.close()
