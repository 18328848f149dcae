#!/usr/bin/env bash
# Runs every test on a fresh or prepared machine, installing what it needs first:
#   1. Python checks of the generated models and the tutorial data
#   2. Rust unit tests and #[pg_test]s (cargo pgrx test, on a throwaway cluster)
#   3. SQL golden tests in test/ (pg_regress against a throwaway cluster), then the
#      same search from a client driver (psycopg, binary results), tests with several
#      sessions at once, and pg_dump/restore and DROP EXTENSION on their own cluster;
#      the ann index under 16 searching sessions and across kill -9 (own cluster, ~40 s), and
#      damaged index pages (an ERROR naming the index, then REINDEX)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
VENV=${IMAGE_SEARCH_VENV:-/opt/image_search/venv}
WORK=${IMAGE_SEARCH_TEST_DIR:-/tmp/image_search_test}
mkdir -p "$WORK"; chmod 755 "$WORK"

echo "== 1/3 model and data checks (pytest)"
"$VENV/bin/python" -m pytest -q -p no:cacheprovider models/test_models.py tutorial_data/test_mnist_data.py

echo "== 2/3 Rust unit tests and #[pg_test]s"
source scripts/pg_cluster.sh
export IMAGE_SEARCH_TEST_ROOT=$(image_root)
rm -rf "$WORK/pgrx"; mkdir -p "$WORK/pgrx"; chown postgres "$WORK/pgrx"
cargo pgrx test pg15 --release --runas postgres --pgdata "$WORK/pgrx/data"

echo "== 3/3 SQL golden tests (pg_regress) and the client-driver test"
scripts/install.sh
cluster_start "$WORK/regress" 54330
as_postgres "$PGBIN/createdb" -h "$PGHOST" -p "$PGPORT" image_search_regress
rm -rf "$WORK/regress_out"; mkdir -p "$WORK/regress_out"; chown postgres "$WORK/regress_out"
# pg_regress runs as postgres, which may not be able to read the checkout: give it a copy.
rm -rf "$WORK/regress_in"; cp -R test "$WORK/regress_in"; chmod -R a+rX "$WORK/regress_in"
tests=$(cd test/sql && ls *.sql | sed 's/\.sql$//' | sort)
PGXS=$(dirname "$($PG_CONFIG_BIN --pgxs)")
if ! as_postgres "$PGXS/../test/regress/pg_regress" --use-existing --host="$PGHOST" --port="$PGPORT" \
      --user=postgres --inputdir="$WORK/regress_in" --outputdir="$WORK/regress_out" \
      --dbname=image_search_regress $tests; then
  cat "$WORK/regress_out/regression.diffs" 2>/dev/null | head -200
  exit 1
fi
"$VENV/bin/python" test/driver_test.py
test/concurrency.sh image_search_regress
test/lifecycle.sh
test/ann_crash.sh
test/ann_replica.sh
test/ann_reuse.sh
test/ann_corruption.sh
test/ann_cursor_vacuum.sh
test/ann_long.sh
test/readme_test.sh
test/citus.sh
