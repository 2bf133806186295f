"""A trained run over HTTP: the app behind `python -m jaxgan.serve` (no flags here).

  GET  /healthz    {"status": "ok", "step": N, "requests": ..., "model_calls": ...}
  GET  /info       api.Model.info plus the service's limits
  POST /sample     JSON {"num": 16, "seed": 0, "labels": [...], "format": "grid" | "png_list"}
                   -> a PNG grid, or JSON {"images": [base64 PNG, ...], "step", "seed"}
  POST /translate  an image (multipart field `image`, or a raw body of an image/* type) -> PNG;
                   ?direction=a2b|b2a for unpaired runs; inpainting runs take a multipart field
                   `mask` as well (white = missing, like jaxgan.translate --mask)

Stack: FastAPI on uvicorn. FastAPI is an ASGI framework (an event loop serves the requests, so a
waiting client holds no thread) whose request bodies are pydantic models, each field checked by a
declared rule; it is the standard for Python ML serving, and uvicorn is its reference ASGI server.

Every model call runs on one worker thread, in order: the device holds one copy of the weights
and runs one program at a time anyway. /sample requests of a run with a latent space (the
'generate' capability) are batched there: the requests queued while the worker was busy (and,
with `batch_window_ms` > 0, those arriving that long after) are gathered up to `max_batch`
images, their latents (model.latents(num, seed)) and labels (model.labels) concatenated into one
model.generate call, and the images split back. Every network computes an example from that
example alone at inference (api.py), so a request's images equal model.sample(num, seed, labels)
whatever it was batched with. Runs that only sample
(PixelCNN) get one model.sample per request; /translate requests go one at a time.

Uploads: the request body is limited to `max_upload_mb` (413), an image's sides are read from its
header and checked against `max_side` before anything is decoded (a decompression bomb never is),
then it is read as jaxgan.translate reads files (images.read_image, image_sets.to_channels to the
run's channels). Every 4xx is JSON {"error": "<one line>"}; the server keeps serving after each.
"""
import asyncio
import base64
import dataclasses
import io
import queue
import threading
import time
from concurrent import futures
from typing import Literal

import fastapi
from fastapi import exceptions as fastapi_exceptions
from fastapi import responses
import numpy as np
from PIL import Image
import pydantic
from starlette import datastructures
from starlette import exceptions as starlette_exceptions
from starlette import concurrency

from jaxgan.data import image_files
from jaxgan.data import images as image_lib
from jaxgan.inference import api
from jaxgan.training import checkpoints

_ROUTES = 'GET /healthz, GET /info, POST /sample, POST /translate'
_MAX_SEED = 2**31 - 1


@dataclasses.dataclass(frozen=True)
class Limits:
  """What the service accepts: images per /sample request (max_num) and per model call
  (max_batch), upload size and image sides, and how long the worker waits to fill a batch."""
  max_batch: int = 64
  max_num: int = 64
  max_upload_mb: float = 8.0
  max_side: int = 2048
  batch_window_ms: float = 0.0

  def __post_init__(self):
    for name in ('max_batch', 'max_num', 'max_upload_mb', 'max_side'):
      if not getattr(self, name) > 0:
        raise ValueError(f'{name}={getattr(self, name)}: pass a positive limit.')
    if not self.batch_window_ms >= 0:
      raise ValueError(f'batch_window_ms={self.batch_window_ms}: pass 0 or more.')


def _fail(status: int, message: str):
  raise fastapi.HTTPException(status, message)


@dataclasses.dataclass
class _Job:
  future: futures.Future
  call: tuple | None = None  # (fn, *args): one call; None: a /sample request to batch
  num: int = 0
  seed: int = 0
  labels: np.ndarray | None = None


class _Worker:
  """The one thread that runs every model call; it batches the /sample requests of a latent
  model (see the module docstring)."""

  def __init__(self, model: api.Model, max_batch: int, window_ms: float):
    self._model, self._max_batch, self._window = model, max_batch, window_ms / 1000
    self._queue = queue.SimpleQueue()
    self.requests = self.model_calls = 0
    self._thread = threading.Thread(target=self._loop, name='jaxgan-model', daemon=True)
    self._thread.start()

  def run(self, fn, *args) -> futures.Future:
    """The future result of fn(*args), computed on the worker in turn."""
    return self._put(_Job(futures.Future(), (fn, *args)))

  def sample(self, num: int, seed: int, labels: np.ndarray | None) -> futures.Future:
    """The future model.sample(num, seed, labels) of a latent model, batched with others."""
    return self._put(_Job(futures.Future(), num=num, seed=seed, labels=labels))

  def close(self) -> None:
    self._queue.put(None)
    self._thread.join()

  def _put(self, job: _Job) -> futures.Future:
    self._queue.put(job)
    return job.future

  def _loop(self) -> None:
    pending = None
    while True:
      job, pending = pending or self._queue.get(), None
      if job is None:
        return
      if not job.future.set_running_or_notify_cancel():  # its client went away
        continue
      if job.call is not None:
        self._finish([job], lambda: [job.call[0](*job.call[1:])])
      else:
        jobs, pending = self._gather(job)
        self._finish(jobs, lambda: self._generate(jobs))

  def _gather(self, first: _Job) -> tuple[list[_Job], _Job | None]:
    """`first` and the /sample jobs queued within the window while they fit in max_batch; the
    job that ended the gathering, if any, comes back to run next."""
    jobs, total = [first], first.num
    deadline = time.monotonic() + self._window
    while total < self._max_batch:
      try:
        job = self._queue.get(timeout=max(deadline - time.monotonic(), 0))
      except queue.Empty:
        break
      if job is None or job.call is not None or total + job.num > self._max_batch:
        return jobs, job
      if job.future.set_running_or_notify_cancel():
        jobs.append(job)
        total += job.num
    return jobs, None

  def _generate(self, jobs: list[_Job]) -> list[np.ndarray]:
    model = self._model
    latents = np.concatenate([model.latents(job.num, job.seed) for job in jobs])
    labels = None if jobs[0].labels is None else np.concatenate([job.labels for job in jobs])
    images = model.generate(latents, labels)
    return np.split(images, np.cumsum([job.num for job in jobs])[:-1])

  def _finish(self, jobs: list[_Job], compute) -> None:
    try:
      results = compute()
    except Exception as e:  # pylint: disable=broad-except  # the requests' error, not the worker's
      for job in jobs:
        job.future.set_exception(e)
      return
    self.model_calls += 1
    self.requests += len(jobs)
    for job, result in zip(jobs, results):
      job.future.set_result(result)


async def _result(future: futures.Future, bad_request=()):
  """The worker's result; an error of type `bad_request` (the request's fault) becomes a 422."""
  try:
    return await asyncio.wrap_future(future)
  except bad_request as e:
    _fail(422, str(e))


class _Upload(io.BytesIO):
  """Uploaded bytes that name themselves in images.read_image's messages."""

  def __init__(self, data: bytes, name: str):
    super().__init__(data)
    self._name = name

  def __str__(self) -> str:
    return f'The upload {self._name!r}'


def read_upload(data: bytes, name: str, channels: int, max_side: int) -> np.ndarray:
  """uint8 [h, w, channels] of an uploaded image file, or a 413/422 saying what is off; sides
  over `max_side` are refused from the header, before decoding."""
  upload = _Upload(data, name)
  try:
    with Image.open(upload) as header:
      width, height = header.size
  except Image.DecompressionBombError as e:
    _fail(413, f'{upload} is too large to decode ({e})')
  except OSError:
    _fail(422, f'{upload} is not an image file PIL can read.')
  if max(width, height) > max_side:
    _fail(413, f'{upload} is {width}x{height}; this service takes images of at most {max_side} '
          'pixels a side.')
  upload.seek(0)
  try:
    return image_files.read_image(upload, channels)
  except image_lib.ImageReadError as e:
    _fail(422, str(e))
  except Exception as e:  # pylint: disable=broad-except  # PIL raises many types for damaged files
    _fail(422, f'{upload} cannot be decoded ({checkpoints.short_cause(e, 80)}).')


def png_bytes(image: np.ndarray) -> bytes:
  """A uint8 [H, W, C] image (C in 1, 3) as PNG file bytes."""
  buffer = io.BytesIO()
  Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buffer, 'PNG')
  return buffer.getvalue()


def _field(loc) -> str:
  names = [p for p in loc if p not in ('body', 'query')]
  return ''.join(f'[{p}]' if isinstance(p, int) else f'.{p}' for p in names).lstrip('.')


def _rule(error: dict, fields: str) -> str:
  """One pydantic error as 'field must ...'."""
  field, kind, ctx = _field(error['loc']), error['type'], error.get('ctx', {})
  if kind == 'json_invalid':
    return f'The body is not valid JSON ({ctx.get("error")})'
  if not field:
    return f'The body must be a JSON object (Content-Type: application/json) with {fields}'
  rules = {'missing': 'is required', 'less_than_equal': f'must be <= {ctx.get("le")}',
           'greater_than_equal': f'must be >= {ctx.get("ge")}', 'int_type': 'must be an integer',
           'int_from_float': 'must be an integer', 'int_parsing': 'must be an integer',
           'literal_error': f'must be {ctx.get("expected")}', 'list_type': 'must be a list',
           'too_long': f'must have at most {ctx.get("max_length")} items',
           'extra_forbidden': f'is not a field; the fields are {fields}'}
  return f'{field} {rules.get(kind, "is invalid: " + error["msg"])}'


def create_app(model: api.Model, limits: Limits = Limits()) -> fastapi.FastAPI:
  """The ASGI app serving `model` within `limits` (see the module docstring)."""
  worker = _Worker(model, limits.max_batch, limits.batch_window_ms)
  info = {**model.info, 'service': dataclasses.asdict(limits)}
  served = [route for route, capabilities in (('/sample', ('sample',)),
                                              ('/translate', ('translate', 'inpaint')))
            if any(model.can(c) for c in capabilities)]
  offers = f'it serves {" and ".join(served) or "no images"}'
  run = f'a {model.config.family!r} run'
  channels = {d: model.input_channels(d) for d in model.directions} if (
      model.can('translate') or model.can('inpaint')) else {}

  async def lifespan(_):
    yield
    worker.close()

  app = fastapi.FastAPI(title='jaxgan', lifespan=lifespan)
  app.add_middleware(_BodyLimit, max_bytes=int(limits.max_upload_mb * 2**20))

  class SampleRequest(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra='forbid', strict=True)
    num: int = pydantic.Field(ge=1, le=limits.max_num)
    seed: int = pydantic.Field(0, ge=0, le=_MAX_SEED)
    labels: list[int] | None = pydantic.Field(None, max_length=limits.max_num)
    format: Literal['grid', 'png_list'] = 'grid'

  fields = ', '.join(SampleRequest.model_fields)

  @app.exception_handler(starlette_exceptions.HTTPException)
  async def http_error(request: fastapi.Request, exc: starlette_exceptions.HTTPException):
    message = exc.detail
    if exc.status_code in (404, 405):
      message = f'{message}: {request.method} {request.url.path}; this service has {_ROUTES}.'
    return responses.JSONResponse({'error': message}, exc.status_code, exc.headers)

  @app.exception_handler(fastapi_exceptions.RequestValidationError)
  async def validation_error(request: fastapi.Request, exc):
    del request
    return responses.JSONResponse(
        {'error': '; '.join(_rule(e, fields) for e in exc.errors()[:3]) + '.'}, 422)

  @app.get('/healthz')
  async def healthz():
    return {'status': 'ok', 'step': model.step, 'requests': worker.requests,
            'model_calls': worker.model_calls}

  @app.get('/info')
  async def get_info():
    return info

  @app.post('/sample')
  async def sample(request: SampleRequest):
    if not model.can('sample'):
      _fail(400, f'This is {run}: it has no /sample; {offers}.')
    if model.can('generate'):
      try:
        labels = model.labels(request.num, request.labels)
      except ValueError as e:
        _fail(422, str(e))
      images = await _result(worker.sample(request.num, request.seed, labels))
    else:
      if request.labels is not None:
        _fail(422, f'This is {run}, unconditional: it takes no labels.')
      labels = None
      images = await _result(worker.run(model.sample, request.num, request.seed))
    if request.format == 'grid':
      grid = await concurrency.run_in_threadpool(
          lambda: png_bytes(image_lib.make_grid(images)))
      return fastapi.Response(grid, media_type='image/png')
    pngs = await concurrency.run_in_threadpool(lambda: [png_bytes(i) for i in images])
    body = {'images': [base64.b64encode(p).decode('ascii') for p in pngs],
            'step': model.step, 'seed': request.seed}
    if labels is not None:
      body['labels'] = labels.tolist()
    return body

  @app.post('/translate')
  async def translate(request: fastapi.Request, direction: str | None = None):
    if not channels:
      _fail(400, f'This is {run}: it has no /translate; {offers}.')
    if not model.can('bidirectional') and direction is not None:
      _fail(422, f'direction is for unpaired runs; this is {run}, which translates one way '
                 'only: leave the direction out.')
    if direction not in (None, 'a2b', 'b2a'):
      _fail(422, f"direction must be 'a2b' or 'b2a', not {direction!r}.")
    image_data, mask_data = await _uploads(request)
    inpaint = model.can('inpaint')
    if inpaint and mask_data is None:
      _fail(422, f'This is {run} (inpainting): send a multipart form with the fields image and '
            'mask (white = missing).')
    if mask_data is not None and not inpaint:
      _fail(422, f'mask is for inpainting runs; this is {run}.')
    depth = channels[direction or model.directions[0]]
    if depth not in (1, 3):
      _fail(400, f'This is {run}: its inputs have {depth} channels; HTTP uploads are read as '
            'greyscale or RGB (use jaxgan.load(workdir).translate from Python).')
    image = await concurrency.run_in_threadpool(
        read_upload, image_data, 'image', depth, limits.max_side)
    if inpaint:
      mask = await concurrency.run_in_threadpool(
          read_upload, mask_data, 'mask', 1, limits.max_side)
      if mask.shape[:2] != image.shape[:2]:
        _fail(422, f'The mask is {mask.shape[1]}x{mask.shape[0]}, the image '
              f'{image.shape[1]}x{image.shape[0]}: they must match.')
      future = worker.run(model.inpaint, image, (mask >= 128).astype(np.uint8))
    else:
      future = worker.run(model.translate, image, direction)
    output = await _result(future, ValueError)
    return fastapi.Response(await concurrency.run_in_threadpool(png_bytes, output),
                            media_type='image/png')

  return app


async def _uploads(request: fastapi.Request) -> tuple[bytes, bytes | None]:
  """(image bytes, mask bytes or None) of a multipart form or a raw image body."""
  content_type = request.headers.get('content-type', '')
  if content_type.startswith('image/'):
    return await request.body(), None
  if not content_type.startswith('multipart/form-data'):
    _fail(415, 'Send the image as a multipart form field "image" or as the body with an image/* '
          f'Content-Type, not {content_type or "no Content-Type"}.')
  form = await request.form(max_files=2, max_fields=2)
  unknown = sorted(set(form) - {'image', 'mask'})
  if unknown:
    _fail(422, f'Unknown form fields {unknown}: send image (and mask for inpainting).')
  files = {}
  for name in ('image', 'mask'):
    value = form.get(name)
    if value is not None and not isinstance(value, datastructures.UploadFile):
      _fail(422, f'The form field {name} must be a file upload.')
    files[name] = None if value is None else await value.read()
  if files['image'] is None:
    _fail(422, 'The form has no field image: send the image file as image.')
  return files['image'], files['mask']


class _BodyLimit:
  """ASGI middleware: a 413 for a request body over `max_bytes`, declared (Content-Length, then
  nothing is read) or counted while it streams."""

  def __init__(self, app, max_bytes: int):
    self.app, self.max_bytes = app, max_bytes
    self.message = f'The request body is over this service\'s limit of {max_bytes} bytes.'

  async def __call__(self, scope, receive, send):
    if scope['type'] != 'http':
      return await self.app(scope, receive, send)
    declared = datastructures.Headers(scope=scope).get('content-length', '')
    if declared.isdigit() and int(declared) > self.max_bytes:
      response = responses.JSONResponse({'error': self.message}, 413, {'Connection': 'close'})
      return await response(scope, receive, send)
    received = 0

    async def limited_receive():
      nonlocal received
      message = await receive()
      received += len(message.get('body', b''))
      if received > self.max_bytes:
        raise fastapi.HTTPException(413, self.message)
      return message

    return await self.app(scope, limited_receive, send)
