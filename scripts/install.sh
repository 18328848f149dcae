#!/usr/bin/env bash
# Builds the extension and installs it into Debian's PostgreSQL 15 (needs root).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
PG_CONFIG_BIN=${IMAGE_SEARCH_PG_CONFIG:-/usr/bin/pg_config}
cargo pgrx install --release --pg-config "$PG_CONFIG_BIN" 2>&1 | { grep -vE "^\s+(Compiling|Checking|Downloaded|Downloading)" || true; }
# cargo pgrx installs the current version's script and the upgrade scripts in sql/;
# the frozen scripts of earlier versions make `CREATE EXTENSION ... VERSION` and
# upgrade tests possible.
install -m 0644 sql/image_search--[0-9]*.[0-9]*.[0-9]*.sql "$($PG_CONFIG_BIN --sharedir)/extension/"
