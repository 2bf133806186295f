#!/usr/bin/env bash
# The GPU figures of issues 27 and 28 in one short run, logged to $OUT/gpu_session.log:
#  1. experiments/compression.py's DCGAN table at 20x the CPU budget (teacher 12,000 steps,
#     students 6,000; 3 seeds trained in parallel processes; FID/KID on 5,000 samples; GPU
#     latency), results in experiments/results/compression_gpu.{json,md};
#  2. experiments/bench_biggan.py: BigGAN-128's train step time and model FLOP utilization at
#     the largest batch that fits (if the script is there).
#
#   bash experiments/gpu_session.sh    # on the GPU machine, with the git-ignored .gpu/ carried
#
# .gpu/ holds what that machine lacks: the ml_collections, mlxtend and qwix wheels (pip download
# --no-deps ... -d .gpu) and the FID Inception weights rounded to float16
# (inception_fid_f16.npz, 42 MB: the 87 MB file is over the machine's 64 MiB transfer limit).
# Those are widened to float32 into jaxgan's weight cache, so every FID here, the reference
# statistics included, uses the float16-rounded weights: compare rows with each other, not
# with FIDs computed on the CPU.
set -o pipefail
OUT=${OUT:-/tmp/gpu_session}
PYTHON=${PYTHON:-python3}
SITE=/tmp/site
mkdir -p "$OUT"
"$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target "$SITE" .gpu/*.whl || exit 1
export PYTHONPATH=$SITE:$PWD PYTHONUNBUFFERED=1 XDG_CACHE_HOME=/tmp/xdg
export JAX_COMPILATION_CACHE_DIR=/tmp/jax_cache
DEADLINE=$((SECONDS + ${GPU_SESSION_SECONDS:-575}))
left() { echo $((DEADLINE - SECONDS)); }
BUDGET_1X='--teacher_steps=600 --student_steps=300 --num_samples=5000'
BUDGET_20X='--teacher_steps=12000 --student_steps=6000 --num_samples=5000'
if [ -n "$GPU_SESSION_SMOKE" ]; then  # a CPU smoke test of the whole script; later flags win
  BUDGET_1X='--teacher_steps=2 --student_steps=1 --num_samples=100 --seeds=0 --repeats=2'
  BUDGET_20X='--teacher_steps=4 --student_steps=2 --num_samples=100 --seeds=0 --repeats=2'
  BIGGAN_SHRINK='--smoke'
fi
compression() {  # compression TAG STAGES TIMEOUT BUDGET...
  local tag=$1 stages=$2 limit=$3
  shift 3
  timeout -k 5 "$limit" "$PYTHON" experiments/compression.py --tag="$tag" \
    --root=/tmp/compression --parallel_seeds --stages="$stages" --repeats=50 \
    --protocol_note='Inception weights rounded to float16 (reference statistics too)' "$@"
  echo "=== $tag $stages: exit $? at $SECONDS s"
}

{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  mkdir -p /tmp/xdg/jaxgan
  "$PYTHON" -c '
import numpy as np
packed = np.load(".gpu/inception_fid_f16.npz")
np.savez("/tmp/xdg/jaxgan/inception_fid_a16e4d89c0ec.npz",
         **{k: packed[k].astype(np.float32) for k in packed.files})
import jax, flax
print("jax", jax.__version__, "flax", flax.__version__, jax.devices())'
  # The CPU budget (1x) and 20x train side by side: six processes of small, launch-bound steps.
  export XLA_PYTHON_CLIENT_MEM_FRACTION=0.12
  compression gpu_1x train $(($(left) - 270)) $BUDGET_1X &
  compression gpu_20x train $(($(left) - 270)) $BUDGET_20X &
  wait
  export XLA_PYTHON_CLIENT_MEM_FRACTION=0.4
  compression gpu_1x quality $(($(left) - 150)) $BUDGET_1X &
  compression gpu_20x quality $(($(left) - 150)) $BUDGET_20X &
  wait
  compression gpu_20x latency $(($(left) - 120)) $BUDGET_20X  # alone on the GPU
  cp experiments/results/compression_gpu_* "$OUT"/ 2>/dev/null
  export XLA_PYTHON_CLIENT_MEM_FRACTION=0.9
  if [ -f experiments/bench_biggan.py ]; then
    echo "=== bench_biggan (timeout $(($(left) - 5)) s)"
    timeout -k 5 $(($(left) - 5)) "$PYTHON" experiments/bench_biggan.py --out="$OUT"/bench_biggan.json $BIGGAN_SHRINK
    echo "=== exit $? at $SECONDS s"
  fi
  date -u
} 2>&1 | tee "$OUT/gpu_session.log"
