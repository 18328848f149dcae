#!/usr/bin/env bash
# Installs everything the extension needs on a fresh Debian machine, idempotently:
# Debian packages, cargo-pgrx 0.18.0 (initialised against Debian's PostgreSQL 15),
# the ONNX Runtime C library and the Python venv used by the model/data tests.
# Each step is skipped when its result is already present, so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

ORT_VERSION=1.32.0
ORT_WHEEL=onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl
ORT_SHA256=5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d
PGRX_VERSION=0.18.0
VENV=${IMAGE_SEARCH_VENV:-/opt/image_search/venv}

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }

apt_packages=(postgresql-15 postgresql-server-dev-15 libclang-dev clang sudo python3-venv)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Debian starts a cluster on install; our scripts run their own throwaway clusters instead.
if command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q online; then
  pg_ctlcluster 15 main stop 2>/dev/null || true
fi

PG_CONFIG=/usr/bin/pg_config
export PATH="$HOME/.cargo/bin:$PATH"
if ! cargo pgrx --version 2>/dev/null | grep -q "$PGRX_VERSION"; then
  log "cargo install cargo-pgrx $PGRX_VERSION (about 5 minutes)"
  cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
fi
if ! grep -qs "pg15" "${PGRX_HOME:-$HOME/.pgrx}/config.toml"; then
  log "cargo pgrx init --pg15 $PG_CONFIG"
  cargo pgrx init --pg15 "$PG_CONFIG"
fi

# ONNX Runtime ships its C library inside its PyPI wheel. install_ort VERSION WHEEL SHA256 DIR
# downloads the pinned wheel, checks it, and puts libonnxruntime.so.VERSION into DIR.
install_ort() {
  local version=$1 wheel=$2 sha256=$3 dir=$4 tmp
  log "installing libonnxruntime.so.$version into $dir"
  tmp=$(mktemp -d)
  pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
      --platform manylinux_2_28_x86_64 -d "$tmp" "onnxruntime==$version"
  echo "$sha256  $tmp/$wheel" | sha256sum -c --quiet
  python3 -c "import sys,zipfile; open(sys.argv[2],'wb').write(zipfile.ZipFile(sys.argv[1]).read('onnxruntime/capi/libonnxruntime.so.$version'))" \
      "$tmp/$wheel" "$tmp/libonnxruntime.so.$version"
  mkdir -p "$dir"
  install -m 0755 "$tmp/libonnxruntime.so.$version" "$dir/"
  rm -rf "$tmp"
}

# The library the extension loads, beside the extension.
PKGLIBDIR=$($PG_CONFIG --pkglibdir)
[ -f "$PKGLIBDIR/libonnxruntime.so.$ORT_VERSION" ] || install_ort "$ORT_VERSION" "$ORT_WHEEL" "$ORT_SHA256" "$PKGLIBDIR"

# Test fixture: an ONNX Runtime older than ort's API 31 must give a clear ERROR
# (test/sql/onnxruntime.sql). Never used by the extension itself.
FIXTURES=/opt/image_search/fixtures
if [ ! -f "$FIXTURES/libonnxruntime.so.1.22.1" ]; then
  install_ort 1.22.1 onnxruntime-1.22.1-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl \
      f6effa1299ac549a05c784d50292e3378dbbf010346ded67400193b09ddc2f04 "$FIXTURES"
  chmod -R a+rX /opt/image_search
fi

# Python is a development-time tool only (model generator and data checks); nothing at run time needs it.
requirements=$(cat models/requirements.txt tutorial_data/requirements.txt test/requirements.txt)
if [ ! -x "$VENV/bin/python" ] || [ "$requirements" != "$(cat "$VENV/.requirements" 2>/dev/null)" ]; then
  log "python venv $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r models/requirements.txt -r tutorial_data/requirements.txt -r test/requirements.txt
  printf '%s' "$requirements" > "$VENV/.requirements"
fi
