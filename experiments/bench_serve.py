"""Throughput and latency of jaxgan.serve's /sample on this machine, beside the api without HTTP.

  python experiments/bench_serve.py [--workdir=RUN] [--steps=20] [--requests=2000] [--quick]

Without --workdir it trains configs/dcgan.py (mnist_5k, 28x28 grey, its real widths) for --steps
steps with `python -m jaxgan.main` into a temporary folder: throughput does not depend on
training. It then measures, each after a warm-up that compiles every batch bucket:

  direct        jaxgan.load(run).sample(num) in this process (no HTTP), num = 1 and 64: the
                reference of what the network alone delivers;
  sequential    one client posting /sample (format grid, one PNG per request) back to back,
                num = 1 and num = 64 (one request is one batch);
  concurrent    8 clients, each posting num = 1 requests back to back: p50 / p99 latency and
                images/s,
for three servers (SERVERS): the defaults (--max_batch=64 --batch_window_ms=0: the worker batches
what queued while it was busy), --batch_window_ms=5 (it also waits up to 5 ms for more) and
--max_batch=1 (every request its own model call at batch 1).

This process applies the command-line tools' XLA flags (jaxgan/platform.py) so the direct
figures use the same convolutions as the server. Clients and server share this machine's cores.
Results go to experiments/results/serve_bench.{json,md} (with --quick: serve_bench_quick.* in
the temporary folder), rewritten after each measurement; the CPU and the library versions are
printed and recorded.
"""
import argparse
import concurrent.futures
import os
import platform as python_platform
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from experiments import common  # pylint: disable=g-import-not-at-top
from jaxgan import platform  # pylint: disable=g-import-not-at-top

RESULTS = os.path.join(common.REPO, 'experiments', 'results')
BUCKETS = (1, 2, 4, 8, 16, 32, 64)
SERVERS = (  # (name, jaxgan.serve flags)
    ('batching', ()),  # the defaults: what queued while the worker ran, up to 64 images
    ('batching, 5 ms window', ('--batch_window_ms=5',)),  # and waiting 5 ms for more
    ('no batching', ('--max_batch=1',)),  # every request its own model call at batch 1
)


def machine() -> dict:
  """The CPU and the versions of what serves."""
  # pylint: disable=g-import-not-at-top,multiple-imports
  import fastapi, httpx, jax, jaxlib, pydantic, uvicorn
  cpu = python_platform.processor()
  if os.path.exists('/proc/cpuinfo'):
    with open('/proc/cpuinfo') as f:
      cpu = next((line.split(':', 1)[1].strip() for line in f if line.startswith('model name')),
                 cpu)
  return {'cpu': cpu, 'cores': os.cpu_count(), 'python': python_platform.python_version(),
          'jax': jax.__version__, 'jaxlib': jaxlib.__version__, 'fastapi': fastapi.__version__,
          'uvicorn': uvicorn.__version__, 'pydantic': pydantic.__version__,
          'httpx': httpx.__version__}


def train(root: str, steps: int) -> str:
  workdir = os.path.join(root, 'dcgan')
  subprocess.run([sys.executable, '-m', 'jaxgan.main', f'--config={common.REPO}/configs/dcgan.py',
                  f'--workdir={workdir}', f'--config.train.num_steps={steps}',
                  f'--config.train.checkpoint_every={steps}', '--config.eval.every_steps=0'],
                 cwd=common.REPO, check=True)
  return workdir


def summary(latencies: list[float], images: int, seconds: float) -> dict:
  ms = np.asarray(latencies) * 1000
  return {'requests': len(latencies), 'images_per_s': round(images / seconds, 1),
          'p50_ms': round(float(np.percentile(ms, 50)), 2),
          'p99_ms': round(float(np.percentile(ms, 99)), 2)}


def direct(workdir: str, num: int, count: int) -> dict:
  import jaxgan  # pylint: disable=g-import-not-at-top
  model = jaxgan.load(workdir)
  model.sample(num)  # compile
  latencies = []
  start = time.perf_counter()
  for seed in range(count):
    begin = time.perf_counter()
    model.sample(num, seed)
    latencies.append(time.perf_counter() - begin)
  return summary(latencies, num * count, time.perf_counter() - start)


class Server:
  """`python -m jaxgan.serve` on a free port of 127.0.0.1, until close()."""

  def __init__(self, workdir: str, log_path: str, *flags: str):
    import httpx  # pylint: disable=g-import-not-at-top
    with socket.socket() as probe:
      probe.bind(('127.0.0.1', 0))
      self.url = f'http://127.0.0.1:{probe.getsockname()[1]}'
    self.log = open(log_path, 'w')
    self.process = subprocess.Popen(
        [sys.executable, '-m', 'jaxgan.serve', f'--workdir={workdir}',
         f'--port={self.url.rsplit(":", 1)[1]}', '--noaccess_log', *flags],
        cwd=common.REPO, stdout=self.log, stderr=subprocess.STDOUT)
    client = httpx.Client(base_url=self.url, timeout=300)
    deadline = time.monotonic() + 300
    while True:
      if self.process.poll() is not None or time.monotonic() > deadline:
        raise RuntimeError(f'The server did not start; see {log_path}.')
      try:
        if client.get('/healthz').status_code == 200:
          break
      except httpx.TransportError:
        time.sleep(0.5)
    for num in BUCKETS:  # compile every bucket a batch can take
      client.post('/sample', json={'num': num}).raise_for_status()
    client.close()

  def close(self) -> None:
    self.process.terminate()
    self.process.wait(30)
    self.log.close()


def clients(url: str, num: int, concurrency: int, per_client: int) -> dict:
  """`concurrency` clients, each posting `per_client` /sample requests of `num` back to back."""
  import httpx  # pylint: disable=g-import-not-at-top

  def client_loop(index: int) -> list[float]:
    latencies = []
    with httpx.Client(base_url=url, timeout=300) as client:
      for request in range(per_client):
        begin = time.perf_counter()
        client.post('/sample', json={'num': num, 'seed': index * per_client + request}
                    ).raise_for_status()
        latencies.append(time.perf_counter() - begin)
    return latencies

  start = time.perf_counter()
  with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
    latencies = [t for ts in pool.map(client_loop, range(concurrency)) for t in ts]
  return summary(latencies, num * len(latencies), time.perf_counter() - start)


def write(results: dict, out: str) -> None:
  common.save_results(results, out + '.json')
  rows = ['| measurement | requests | images/s | p50 ms | p99 ms |', '|---|---|---|---|---|']
  rows += [f'| {name} | {r["requests"]} | {r["images_per_s"]} | {r["p50_ms"]} | {r["p99_ms"]} |'
           for name, r in results['measurements'].items()]
  info = results['machine']
  with open(out + '.md', 'w') as f:
    f.write(f'# jaxgan.serve /sample on {info["cpu"]} ({info["cores"]} cores)\n\n'
            f'Run: {results["run"]}. Command: `{results["command"]}`. Versions: '
            + ', '.join(f'{k} {v}' for k, v in info.items() if k not in ('cpu', 'cores'))
            + '.\n\n' + '\n'.join(rows) + '\n')


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--workdir', help='A trained run (default: train configs/dcgan.py).')
  parser.add_argument('--steps', type=int, default=20, help='Training steps without --workdir.')
  parser.add_argument('--requests', type=int, default=2000, help='Requests per measurement.')
  parser.add_argument('--concurrency', type=int, default=8)
  parser.add_argument('--quick', action='store_true', help='A few requests: checks it runs.')
  args = parser.parse_args()
  platform.use_default_xla_flags()
  requests = 8 if args.quick else args.requests
  out = os.path.join(tempfile.gettempdir() if args.quick else RESULTS,
                     'serve_bench_quick' if args.quick else 'serve_bench')
  info = machine()
  print(info, flush=True)
  with tempfile.TemporaryDirectory() as root:
    workdir = args.workdir or train(root, 2 if args.quick else args.steps)
    results = {'machine': info, 'run': args.workdir or f'configs/dcgan.py trained '
               f'{2 if args.quick else args.steps} steps', 'measurements': {},
               'command': ' '.join(['python', 'experiments/bench_serve.py'] + sys.argv[1:])}
    measurements = results['measurements']

    def record(name: str, result: dict) -> None:
      measurements[name] = result
      write(results, out)
      print(f'{name}: {result}', flush=True)

    record('direct api, num=1', direct(workdir, 1, requests))
    record('direct api, num=64', direct(workdir, 64, max(requests // 8, 2)))
    for name, flags in SERVERS:
      server = Server(workdir, os.path.join(root, f'server_{len(measurements)}.log'), *flags)
      try:
        record(f'/sample num=1, 1 client, {name}', clients(server.url, 1, 1, requests))
        if not flags:
          record(f'/sample num=64, 1 client, {name}',
                 clients(server.url, 64, 1, max(requests // 8, 2)))
        record(f'/sample num=1, {args.concurrency} clients, {name}',
               clients(server.url, 1, args.concurrency, max(requests // args.concurrency, 1)))
      finally:
        server.close()
  print(f'Wrote {out}.json and {out}.md')


if __name__ == '__main__':
  main()
