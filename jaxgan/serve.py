"""Serves a trained run over HTTP (jaxgan/inference/service.py: the endpoints, batching and limits).

  python -m jaxgan.serve --workdir=DIR [--step=N] [--host=127.0.0.1 --port=8000]
      [--max_batch=64 --max_num=64 --max_upload_mb=8 --max_side=2048 --batch_window_ms=0]
      [--quantize=int8]

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

from jaxgan import config_lib
from jaxgan import console
from jaxgan.compression import quantize as quantize_lib
from jaxgan.inference import api
from jaxgan.inference import service
from jaxgan.training import checkpoints

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command line's flags, defined when it runs (not on import: tools import together)."""
  flags.DEFINE_string('workdir', None, 'Training directory (config.json + checkpoints).')
  flags.DEFINE_integer('step', None, 'Checkpoint step (default: latest).')
  flags.DEFINE_string('host', '127.0.0.1', 'Address to bind (default: this machine only).')
  flags.DEFINE_integer('port', 8000, 'TCP port.')
  flags.DEFINE_integer('max_batch', 64, 'Most images in one model call.')
  flags.DEFINE_integer('max_num', 64, 'Most images one /sample request asks for.')
  flags.DEFINE_float('max_upload_mb', 8.0, 'Largest request body in MiB.')
  flags.DEFINE_integer('max_side', 2048, 'Largest side of an uploaded image.')
  flags.DEFINE_float('batch_window_ms', 0.0, 'Longest wait for more /sample '
                     'requests to batch with the first queued one.')
  flags.DEFINE_bool('access_log', True, "uvicorn's line per request.")
  flags.DEFINE_enum('quantize', None, quantize_lib.MODES, 'Serve int8 weights '
                    '(jaxgan/compression/quantize.py); default float32.')
  flags.mark_flag_as_required('workdir')


def main(argv):
  console.start_command(argv)
  try:
    limits = service.Limits(FLAGS.max_batch, FLAGS.max_num, FLAGS.max_upload_mb,
                            FLAGS.max_side, FLAGS.batch_window_ms)
  except ValueError as e:
    console.fatal(f'--{e}', console.EXIT_CONFIG_ERROR)
  try:
    model = api.load(FLAGS.workdir, FLAGS.step, max_batch=FLAGS.max_batch,
                     quantize=FLAGS.quantize)
  except checkpoints.CheckpointError as e:
    console.fatal(e, console.EXIT_RUN_ERROR)
  except config_lib.ConfigError as e:
    console.fatal(e, console.EXIT_CONFIG_ERROR)
  application = service.create_app(model, limits)
  print(f'Serving {FLAGS.workdir} ({model.config.family} step {model.step}, '
        f'{sorted(model.capabilities)}) at http://{FLAGS.host}:{FLAGS.port}', flush=True)
  uvicorn.run(application, host=FLAGS.host, port=FLAGS.port, access_log=FLAGS.access_log)


if __name__ == '__main__':
  define_flags()
  app.run(main)
