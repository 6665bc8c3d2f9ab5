#!/usr/bin/env bash
# Installs what fuser needs on a fresh Debian machine. Idempotent: apt runs only when a
# package is missing, the venv is created once and pip only installs what is absent.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools libpolly-22-dev lld-22
  libomp-22-dev clang-22 libclang-22-dev zlib1g-dev libzstd-dev python3-venv graphviz g++
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

# Pinned: the ONNX node cases (and so `make test`) depend on the onnx version.
# nvidia-cuda-nvcc-cu12: ptxas, which checks every PTX module fuser writes, and libdevice
# (nvvm/libdevice), which GPU kernels using math functions link; no GPU needed.
PY_PACKAGES=(lit==23.1.5 onnx==1.23.2 onnxruntime==1.32.0 numpy==2.4.6 nvidia-cuda-nvcc-cu12==12.9.86)
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
need=()
for pkg in "${PY_PACKAGES[@]}"; do
  name="${pkg%%==*}"
  version="${pkg##*==}"
  installed="$(.venv/bin/python -m pip show "$name" 2>/dev/null | sed -n 's/^Version: //p' || true)"
  [ "$installed" = "$version" ] || need+=("$pkg")
done
if ((${#need[@]})); then
  echo "setup: pip installing ${need[*]}"
  .venv/bin/python -m pip install -q --disable-pip-version-check "${need[@]}"
fi

command -v cargo >/dev/null || { echo "setup: cargo is required (https://rustup.rs)"; exit 1; }
echo "setup: ok"
