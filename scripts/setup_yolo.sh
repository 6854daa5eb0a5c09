#!/usr/bin/env bash
# Builds .venv-yolo, the separate environment of the optional ultralytics backend (torch,
# torchvision, ultralytics), idempotently. The main .venv never gets torch.
# About 3 minutes and 5.6 GB on a fresh machine; a no-op once the stamp matches.
set -euo pipefail
cd "$(dirname "$0")/.."
# No pip wheel cache: the CUDA torch wheels alone would add GBs to a disk that CI may have little of.
export PIP_NO_CACHE_DIR=1

PYTHON=${PYTHON:-python3}
VENV=.venv-yolo
# torch 2.14.1 + torchvision 0.29.1 are the pair that import together on x86_64 (pip takes
# them from this machine's disk); PyPI's torchvision beside torch 2.13.0 fails to import.
TORCH=(torch==2.14.1 torchvision==0.29.1)
ULTRALYTICS=ultralytics==8.4.190
# ultralytics' own requirements, except opencv-python (a GUI build that would shadow the
# headless one, possibly 5.x); ultralytics is installed with --no-deps. onnx/onnxruntime
# export and run .onnx weights; numpy/opencv/onnx ranges match pyproject.toml.
DEPS=(
  'numpy>=1.26,<3' 'opencv-python-headless>=4.9,<5' 'onnx>=1.16,<2' 'onnxruntime>=1.18,<2'
  'matplotlib>=3.3.0' 'pillow>=10' 'pyyaml>=6' 'requests>=2.23.0' 'psutil>=5.8.0'
  'polars>=0.20.0' 'nvidia-ml-py>=12.0.0' 'ultralytics-thop>=2.2.3' 'ultralytics-platform>=0.1.45'
)

log() { printf '\033[1m[setup-yolo]\033[0m %s\n' "$*"; }

# pip into the venv; its output is shown only on failure (the machine's pip config lists
# local index folders that warn about every package they lack).
pip_install() {
  local out
  out=$(mktemp)
  if ! "$VENV/bin/pip" install -q "$@" >"$out" 2>&1; then
    grep -v "is ignored: it is neither" "$out" >&2 || true
    rm -f "$out"
    log "pip install $* failed"
    return 1
  fi
  rm -f "$out"
}

if [ "$(uname -m)" != x86_64 ]; then
  log "only x86_64 is set up (on aarch64 the importable pair is torch 2.9.1 + torchvision 0.24.1)"
  exit 1
fi

[ -x "$VENV/bin/python" ] || { log "creating $VENV"; "$PYTHON" -m venv "$VENV"; }
stamp="$VENV/.skynet-yolo-installed"
want=$(sha256sum scripts/setup_yolo.sh | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  log "$VENV is up to date"
  exit 0
fi

start_s=$(date +%s)
log "installing ${TORCH[*]} (a CUDA build, about 5.5 GB; it runs on the CPU too)"
pip_install "${TORCH[@]}"
log "installing $ULTRALYTICS (--no-deps) and its dependencies"
pip_install --no-deps "$ULTRALYTICS"
pip_install "${DEPS[@]}" "${TORCH[@]}"
# The project itself runs from the checkout (PYTHONPATH=.), so it is not installed here.
"$VENV/bin/python" - <<'PY'
import importlib.metadata as md

import cv2
import onnxruntime
import torch
import torchvision
import ultralytics
from ultralytics import YOLO  # noqa: F401

for shadowing in ("opencv-python", "opencv-contrib-python"):
    try:
        md.distribution(shadowing)
    except md.PackageNotFoundError:
        continue
    raise SystemExit(f"{shadowing} is installed and shadows opencv-python-headless")
assert cv2.__version__.startswith("4."), f"opencv {cv2.__version__}: want 4.x"
print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, "
      f"ultralytics {ultralytics.__version__}, opencv {cv2.__version__}, "
      f"onnxruntime {onnxruntime.__version__}")
PY
echo "$want" > "$stamp"
log "done in $(( $(date +%s) - start_s )) s; $(du -sh "$VENV" | cut -f1) in $VENV"
