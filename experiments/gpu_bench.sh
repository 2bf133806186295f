#!/usr/bin/env bash
# The GPU figures of the README's "Performance" section in one short run: bench_dcgan.py and
# bench_fid.py against PyTorch (cuDNN), with each framework's default float32 precision (TF32)
# and with full float32 on both sides, plus bfloat16, all logged to $OUT/gpu_bench.log.
#
#   bash experiments/gpu_bench.sh      # on the GPU machine, with the git-ignored .gpu/ carried
#
# .gpu/ holds what that machine lacks: the ml_collections and mlxtend wheels (pip download
# --no-deps ... -d .gpu ml_collections==1.1.0 mlxtend==0.25.0) and the FID weights in under
# 64 MiB (python experiments/bench_fid.py --pack_weights=.gpu/inception). Each step has a
# timeout, cut to what is left of GPU_BENCH_SECONDS (default 370) so that the log is complete.
# JAX's persistent compilation cache (/tmp) lets later steps reuse earlier compilations.
# GPU_BENCH_SMOKE=1 shrinks every step to a few images or steps (a CPU smoke test).
set -o pipefail
OUT=${OUT:-/tmp/gpu_bench}
PYTHON=${PYTHON:-python3}
SITE=${GPU_BENCH_SITE:-/tmp/site}
mkdir -p "$OUT"
"$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target "$SITE" .gpu/*.whl || exit 1
export PYTHONPATH=$SITE:$PWD PYTHONUNBUFFERED=1
export JAX_COMPILATION_CACHE_DIR=${JAX_COMPILATION_CACHE_DIR:-/tmp/gpu_bench_jax_cache}
export XLA_PYTHON_CLIENT_MEM_FRACTION=0.45  # JAX and torch share the GPU in each process
DEADLINE=$((SECONDS + ${GPU_BENCH_SECONDS:-370}))
if [ -n "$GPU_BENCH_SMOKE" ]; then  # later flags win in argparse
  DCGAN_SHRINK='--steps=1 --repeats=1 --batch_size=8 --trainer_steps=0'
  FID_SHRINK='--num_images=8 --batch_size=4 --batches=1'
fi

step() {  # step LIMIT_S SCRIPT ARGS...: runs experiments/SCRIPT with a timeout
  local limit=$1 script=$2 left=$((DEADLINE - SECONDS)) start=$SECONDS
  shift 2
  if [ "$left" -lt 20 ]; then
    echo "=== skipped (time budget spent): $script $*"
    return
  fi
  [ "$left" -lt "$limit" ] && limit=$left
  local shrink=$DCGAN_SHRINK
  [ "$script" = bench_fid.py ] && shrink=$FID_SHRINK
  echo "=== $script $* (timeout ${limit} s)"
  timeout -k 5 "$limit" "$PYTHON" "experiments/$script" "$@" $shrink
  echo "=== exit $? after $((SECONDS - start)) s"
}

{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || true
  timeout 60 "$PYTHON" -c '
from jaxgan import platform
platform.use_default_xla_flags()
import jax, jax.numpy as jnp, torch
x = jnp.ones((8, 32, 32, 16))
y = jax.lax.conv_general_dilated(x, jnp.ones((3, 3, 16, 16)), (1, 1), "SAME",
                                 dimension_numbers=("NHWC", "HWIO", "NHWC"))
print("jax", jax.__version__, jax.devices(), float(y.sum()))
d = "cuda" if torch.cuda.is_available() else "cpu"
z = torch.nn.functional.conv2d(torch.ones(8, 16, 32, 32, device=d),
                               torch.ones(16, 16, 3, 3, device=d))
print("torch", torch.__version__, d, torch.backends.cudnn.version(), float(z.sum()))'
  echo "=== preflight exit $?"
  step 100 bench_dcgan.py --trainer_steps=3000 --steps=30 --repeats=5
  step 60 bench_dcgan.py --full_float32 --trainer_steps=0 --steps=30 --repeats=5
  step 90 bench_fid.py --packed_weights=.gpu/inception --full_float32 --batches=10
  step 60 bench_fid.py --packed_weights=.gpu/inception --batches=10
  step 75 bench_dcgan.py --bfloat16 --trainer_steps=0 --steps=30 --repeats=5
  step 90 bench_fid.py --packed_weights=.gpu/inception --full_float32 --batch_size=256 \
    --num_images=256 --batches=10
  step 60 bench_fid.py --packed_weights=.gpu/inception --batch_size=256 --num_images=256 \
    --batches=10
  step 60 bench_dcgan.py --batch_size=1024 --trainer_steps=0 --steps=20 --repeats=5
  step 60 bench_dcgan.py --batch_size=1024 --full_float32 --trainer_steps=0 --steps=20 --repeats=5
  step 60 bench_dcgan.py --flax_conv_transpose --trainer_steps=0 --steps=30 --repeats=5
  date -u
} 2>&1 | tee "$OUT/gpu_bench.log"
