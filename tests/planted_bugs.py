"""Plants known bugs in jaxgan, one at a time, and checks that the test suite's tests of that area
fail on each (mutation testing by hand). Not collected by pytest (no test_ prefix).

  python tests/planted_bugs.py            # all bugs; results in experiments/results/planted_bugs.*
  python tests/planted_bugs.py fid_cov    # one by name

Each bug is a one-line source change; the file is restored afterwards whatever happens. The
results are written after every bug, so a killed run keeps what it finished.
"""
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, 'experiments', 'results', 'planted_bugs')

# name: (what it breaks, file, original text, planted text, the pytest selection to run)
BUGS = {
    'resume_off_by_one': (
        'a resumed run reads its data from one example too far',
        'jaxgan/training/trainer.py',
        'schedule.position(step), data_sharding(mesh)',
        'schedule.position(step) + (step == start_step > 0), data_sharding(mesh)',
        ['tests/test_image_to_image.py::test_pix2pix_resumes_bitwise', 'tests/test_phases.py']),
    'inpainting_composite': (
        "the inpainting composite keeps G's output where pixels are known",
        'jaxgan/families/image_to_image.py',
        "return hole * outputs + (1.0 - hole) * image_lib.normalize_images(batch['input'])",
        "return (1.0 - hole) * outputs + hole * image_lib.normalize_images(batch['input'])",
        ['tests/test_image_to_image.py']),
    'fid_covariance': (
        "FID's covariance is the biased (1/N) estimate",
        'jaxgan/evaluation/metrics.py',
        'np.cov(features, rowvar=False)',
        'np.cov(features, rowvar=False, bias=True)',
        ['tests/test_metrics.py', 'tests/test_inception.py']),
    'hinge_generator_sign': (
        "the hinge loss's generator term has the wrong sign",
        'jaxgan/adversarial/losses.py',
        '    lambda fake: -_mean_f32(fake))\n\n\n\ndef _relativistic',
        '    lambda fake: _mean_f32(fake))\n\n\n\ndef _relativistic',
        ['tests/test_losses.py']),
    'vae_likelihood_sign': (
        "the VAE family's loss adds the log-likelihood instead of subtracting it",
        'jaxgan/families/vae.py',
        'loss = jnp.mean(kl_weight * kl - log_likelihood)',
        'loss = jnp.mean(kl_weight * kl + log_likelihood)',
        ['tests/test_vae.py']),
    'tiling_overlap': (
        'tiles overlap by half the overlap they need (too few tiles)',
        'jaxgan/inference/tiling.py',
        'count = -(-(length - 2 * overlap) // (size - 2 * overlap))',
        'count = -(-(length - 2 * overlap) // (size - overlap))',
        ['tests/test_tiling.py']),
    'served_image_dtype': (
        'the HTTP service writes 16-bit PNGs (uint16 levels x 257) instead of 8-bit ones',
        'jaxgan/inference/service.py',
        "  buffer = io.BytesIO()\n  Image.fromarray(image[..., 0]",
        "  buffer = io.BytesIO()\n  image = image.astype(np.uint16) * 257\n"
        "  Image.fromarray(image[..., 0]",
        ['tests/test_serve.py', '-m', 'not slow']),
    'uint8_rounding': (
        'the one [-1, 1] -> uint8 converter truncates instead of rounding',
        'jaxgan/data/images.py',
        'return xp.clip(xp.round(scaled), 0, 255).astype(xp.uint8)',
        'return xp.clip(xp.floor(scaled), 0, 255).astype(xp.uint8)',
        ['tests/test_images.py']),
}


def plant_and_test(name: str) -> dict:
  """Plants bug `name`, runs its tests, restores the file: what failed and how long it took."""
  what, path, original, planted, selection = BUGS[name]
  path = os.path.join(REPO, path)
  with open(path) as f:
    source = f.read()
  if source.count(original) != 1:
    raise ValueError(f'{name}: the text to change is not in {path} exactly once')
  start = time.perf_counter()
  try:
    with open(path, 'w') as f:
      f.write(source.replace(original, planted))
    result = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
                             *selection], cwd=REPO, capture_output=True, text=True, check=False)
  finally:
    with open(path, 'w') as f:
      f.write(source)
  failed = sorted({line.split(' ')[1] for line in result.stdout.splitlines()
                   if line.startswith(('FAILED ', 'ERROR '))})
  summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ''
  return {'bug': what, 'file': os.path.relpath(path, REPO), 'selection': ' '.join(selection),
          'caught': result.returncode != 0 and bool(failed), 'failed_tests': failed,
          'summary': summary, 'seconds': round(time.perf_counter() - start, 1)}


def write(results: dict) -> None:
  with open(RESULTS + '.json', 'w') as f:
    json.dump(results, f, indent=1)
  lines = ['| bug | planted in | tests run | caught by |', '| --- | --- | --- | --- |']
  for name, r in results.items():
    caught = ', '.join(t.split('::')[-1] for t in r['failed_tests'][:4]) or '**not caught**'
    more = f' (+{len(r["failed_tests"]) - 4})' if len(r['failed_tests']) > 4 else ''
    lines.append(f'| {name}: {r["bug"]} | `{r["file"]}` | `{r["selection"]}` | '
                 f'{caught}{more} |')
  with open(RESULTS + '.md', 'w') as f:
    f.write('\n'.join(lines) + '\n')


def main(names: list[str]) -> int:
  results = {}
  if os.path.exists(RESULTS + '.json') and names:
    with open(RESULTS + '.json') as f:
      results = json.load(f)
  for name in names or BUGS:
    results[name] = plant_and_test(name)
    print(f'{name}: caught={results[name]["caught"]} {results[name]["summary"]}', flush=True)
    write(results)
  return 0 if all(r['caught'] for r in results.values()) else 1


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
