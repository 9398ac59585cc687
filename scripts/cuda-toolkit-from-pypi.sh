#!/usr/bin/env bash
# Builds `--features cuda` where no CUDA toolkit is installed: NVIDIA's own PyPI wheels
# (nvcc, headers, cuBLAS, cuRAND, NVRTC; CUDA 13.0, pinned) unpacked into PREFIX.
#
#   scripts/cuda-toolkit-from-pypi.sh /opt/cuda13
#   CUDA_HOME=/opt/cuda13 PATH=/opt/cuda13/bin:$PATH CUDA_COMPUTE_CAP=90 \
#       cargo build --release --features cuda
#
# CUDA_COMPUTE_CAP names the GPU the static kernels are built for (90: H100/H200; 80:
# A100; 89: L4/RTX 40xx); candle reads it where no nvidia-smi can tell.
#
# The binary links the driver's libcuda.so.1, which only comes with the NVIDIA driver.
# Without a driver this script makes a link-time stand-in (every call answers
# CUDA_ERROR_NO_DEVICE): enough to link, and to run the CUDA build on this machine's CPU
# (`--device auto` falls back to it) with LD_LIBRARY_PATH=PREFIX/lib/stubs:PREFIX/lib.
# On a GPU machine the real driver's library is used instead.
set -euo pipefail

prefix=${1:?usage: $0 PREFIX}
python=${PYTHON:-python3}
wheels=$(mktemp -d)
trap 'rm -rf "$wheels"' EXIT

for spec in nvidia-cuda-nvcc==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-crt==13.0.88 \
    nvidia-cuda-runtime==13.0.96 nvidia-cuda-cccl==13.0.85 nvidia-cuda-nvrtc==13.0.88 \
    nvidia-cublas==13.0.2.14 nvidia-curand==10.4.5.25; do
    "$python" -m pip download -q --no-deps --only-binary=:all: -d "$wheels" "$spec"
done
mkdir -p "$wheels/x" "$prefix"
for w in "$wheels"/*.whl; do
    unzip -q -o "$w" 'nvidia/*' -d "$wheels/x"
done
cp -a "$wheels/x/nvidia/cu13/." "$prefix/"

# The linker looks for the unversioned names.
cd "$prefix/lib"
for l in cublas cublasLt cudart nvrtc; do ln -sf "lib$l.so.13" "lib$l.so"; done
ln -sf libcurand.so.10 libcurand.so

# The driver stand-in: one function for each driver entry point cudarc declares.
# (`|| true`: with pipefail, a failed ls would end the script before the message below.)
cudarc=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-* 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$cudarc" ]; then
    echo "cudarc's source is not in cargo's registry: run 'cargo fetch' in the project first" >&2
    exit 1
fi
mkdir -p stubs
grep -ohE "fn cu[A-Za-z0-9_]+\(" "$cudarc/src/driver/sys/mod.rs" | sort -u |
    sed -E 's/fn (cu[A-Za-z0-9_]+)\(/int \1(void) { return 100; }/' >stubs/libcuda.c
cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o stubs/libcuda.so stubs/libcuda.c
ln -sf libcuda.so stubs/libcuda.so.1
"$prefix/bin/nvcc" --version | tail -2
