#!/usr/bin/env bash
# Builds the extension and installs it into Debian's PostgreSQL 15 (needs root).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
cargo pgrx install --release --pg-config /usr/bin/pg_config 2>&1 | grep -vE "^\s+(Compiling|Checking|Downloaded|Downloading)" || exit "${PIPESTATUS[0]}"
