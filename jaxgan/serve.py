"""Serves a trained run over HTTP (jaxgan/inference/service.py: the endpoints, batching and limits).

  python -m jaxgan.serve --workdir=DIR [--step=N] [--host=127.0.0.1 --port=8000]
      [--max_batch=64 --max_num=64 --max_upload_mb=8 --max_side=2048 --batch_window_ms=0]

  curl localhost:8000/healthz
  curl -X POST localhost:8000/sample -H 'Content-Type: application/json' \
      -d '{"num": 16, "seed": 0}' -o grid.png
  curl -X POST localhost:8000/translate -F image=@photo.png -o out.png

The run is restored once (EMA weights, jaxgan.load) and served by uvicorn on one event loop, its
model calls on one worker thread. It binds 127.0.0.1 (this machine only) unless --host says
otherwise; there is no authentication, so put a proxy in front before exposing it. --max_batch
is the most images one model call takes (the /sample requests batched together, and the api's
largest bucket); the /sample requests that queued while the worker ran go together into the next
call, and --batch_window_ms > 0 also waits that long for more (experiments/bench_serve.py on the
2-core CPU: a 5 ms wait took a lone client's p50 latency from 5.2 to 11.8 ms and changed 8
clients' throughput by 4%); --max_batch=1 turns batching off.
"""
from absl import app
from absl import flags
import uvicorn

from jaxgan.inference import api
from jaxgan.training import checkpoints
from jaxgan import config_lib
from jaxgan import console
from jaxgan.inference import service

_WORKDIR = flags.DEFINE_string('workdir', None, 'Training directory (config.json + checkpoints).')
_STEP = flags.DEFINE_integer('step', None, 'Checkpoint step (default: latest).')
_HOST = flags.DEFINE_string('host', '127.0.0.1', 'Address to bind (default: this machine only).')
_PORT = flags.DEFINE_integer('port', 8000, 'TCP port.')
_MAX_BATCH = flags.DEFINE_integer('max_batch', 64, 'Most images in one model call.')
_MAX_NUM = flags.DEFINE_integer('max_num', 64, 'Most images one /sample request asks for.')
_MAX_UPLOAD_MB = flags.DEFINE_float('max_upload_mb', 8.0, 'Largest request body in MiB.')
_MAX_SIDE = flags.DEFINE_integer('max_side', 2048, 'Largest side of an uploaded image.')
_BATCH_WINDOW_MS = flags.DEFINE_float('batch_window_ms', 0.0, 'Longest wait for more /sample '
                                      'requests to batch with the first queued one.')
_ACCESS_LOG = flags.DEFINE_bool('access_log', True, "uvicorn's line per request.")
flags.mark_flag_as_required('workdir')


def main(argv):
  console.start_command(argv)
  try:
    limits = service.Limits(_MAX_BATCH.value, _MAX_NUM.value, _MAX_UPLOAD_MB.value,
                            _MAX_SIDE.value, _BATCH_WINDOW_MS.value)
  except ValueError as e:
    console.fatal(f'--{e}', console.EXIT_CONFIG_ERROR)
  try:
    model = api.load(_WORKDIR.value, _STEP.value, max_batch=_MAX_BATCH.value)
  except checkpoints.CheckpointError as e:
    console.fatal(e, console.EXIT_RUN_ERROR)
  except config_lib.ConfigError as e:
    console.fatal(e, console.EXIT_CONFIG_ERROR)
  application = service.create_app(model, limits)
  print(f'Serving {_WORKDIR.value} ({model.config.family} step {model.step}, '
        f'{sorted(model.capabilities)}) at http://{_HOST.value}:{_PORT.value}', flush=True)
  uvicorn.run(application, host=_HOST.value, port=_PORT.value, access_log=_ACCESS_LOG.value)


if __name__ == '__main__':
  app.run(main)
