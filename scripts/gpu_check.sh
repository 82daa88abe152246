#!/usr/bin/env bash
# Prove artlens' CUDA path in one short run (< 10 minutes) on a machine with an NVIDIA GPU, the CUDA
# libraries and PyTorch + timm + transformers, but no Rust toolchain and no network: parity of dino,
# dinov2 and dinov2@224 against PyTorch (f32 and bf16), model-only images/s against PyTorch eager, and
# `index` images/s over 2,000 generated JPEGs. The work is done by scripts/gpu_check.py (its docstring
# lists the phases, bounds and aims); this wrapper finds the CUDA libraries and checks the machine.
#
# Usage: bash scripts/gpu_check.sh [--artlens PATH] [--quick] [other gpu_check.py options]
#   PATH defaults to gpu-bin/artlens; a compressed PATH.xz is unpacked when PATH itself is absent.
#   Results: $OUT/gpu_check.json and $OUT/gpu_check.log (else target/gpu-check/), table on stdout.
#   Exit status: 0 parity passed; 1 a parity bound failed or could not be checked; 2 cannot start.
#   PYTHON=... picks the interpreter (default: python3, the one holding PyTorch on the GPU machine).
#
# 1. Build the CUDA binary here (no GPU needed; ../shared/docs/gpu.md; ~18 min clean on 2 cores):
#      eval "$(../shared/tools/cuda/setup-cuda13.sh)"
#      cargo build --release --features cuda --target-dir target-cuda
#      mkdir -p gpu-bin && strip -o gpu-bin/artlens target-cuda/release/artlens
#      xz -f -T0 gpu-bin/artlens        # -> gpu-bin/artlens.xz (replaces the binary): what travels,
#                                       #    repo + carried files, is limited to 64 MiB, and the CUDA
#                                       #    binary is ~50 MB; xz shrinks it several-fold (the CPU one 4x)
#    gpu-bin/ must be ignored by git (.gitignore: /gpu-bin/) so that it travels only when carried.
# 2. Run it through the device tool, in one call (the script stops itself by --budget-s, 540 s by default):
#      run(command="bash scripts/gpu_check.sh", carry=["gpu-bin"], kind="nvidia-h200", timeout_s=600)
#    then give the machine back. A smoke test of the script on a CPU-only machine:
#      PYTHON=.venv/bin/python nice -n 19 bash scripts/gpu_check.sh --artlens target/release/artlens \
#        --device cpu --quick --threads 1 --budget-s 3600
set -euo pipefail
cd "$(dirname "$0")/.."

artlens=gpu-bin/artlens
device=cuda
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --artlens) artlens=$2; shift 2 ;;
    --artlens=*) artlens=${1#--artlens=}; shift ;;
    --device) device=$2; args+=("$1" "$2"); shift 2 ;;
    --device=*) device=${1#--device=}; args+=("$1"); shift ;;
    *) args+=("$1"); shift ;;
  esac
done

py=${PYTHON:-$(command -v python3 || true)}
if [ -z "$py" ]; then echo "error: no python3 on PATH" >&2; exit 2; fi
export PYTHONUNBUFFERED=1  # progress lines must reach the log as they happen

if [ ! -e "$artlens" ] && [ -f "$artlens.xz" ]; then
  unpacked=/tmp/gpu-check/artlens
  mkdir -p /tmp/gpu-check
  "$py" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
    "$artlens.xz" "$unpacked"
  chmod +x "$unpacked"
  echo "unpacked $artlens.xz -> $unpacked" >&2
  artlens=$unpacked
fi
if [ ! -x "$artlens" ]; then
  echo "error: no artlens binary at $artlens (or $artlens.xz); see the top of $0 for how to build it" >&2
  exit 2
fi

if [ "${device%%:*}" = cuda ]; then
  # The CUDA libraries come with PyTorch's pip packages (nvidia-cublas, nvidia-cuda-runtime, ...):
  # every lib folder under the `nvidia` namespace package; the driver (libcuda.so.1) is the system's.
  libdirs=$("$py" - <<'PY'
import os
try:
    import nvidia
except ImportError:
    raise SystemExit(0)
for root in nvidia.__path__:  # a namespace package: no __file__
    for d, _, files in os.walk(root):
        if os.path.basename(d) in ("lib", "lib64") and any(".so" in f for f in files):
            print(d)
PY
)
  for d in $libdirs /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
    [ -d "$d" ] && LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  done
  export LD_LIBRARY_PATH
  if ! gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1); then
    echo "error: nvidia-smi failed: $gpu" >&2
    exit 2
  fi
  echo "GPU: $gpu" >&2
  if command -v ldd >/dev/null && missing=$(ldd "$artlens" | grep 'not found'); then
    echo "error: $artlens cannot find these libraries (LD_LIBRARY_PATH=$LD_LIBRARY_PATH):" >&2
    echo "$missing" >&2
    exit 2
  fi
fi

exec "$py" scripts/gpu_check.py --artlens "$artlens" "${args[@]}"
