#!/usr/bin/env bash
# Inserts into an indexed table of a million rows: the ann index beside pgvector 0.8's HNSW
# and IVFFlat, and the same table without an index, in one cluster and one run. Issue 9:
# "inserts, updates and deletes maintain it"; a photo library grows one upload at a time.
# On the tables benches/ann_filtered.sh (f: id, e embedding(128), tag; ann index f_ann) and
# benches/pgvector_filtered.sh (fv with HNSW m 16 / ef_construction 64, fvi with IVFFlat
# lists 1000, both cosine) leave behind, their cluster running:
#   ANN_BENCH_DIR=... ANN_BENCH_PORT=... benches/pgvector_insert.sh
# Needs pgvector installed in the cluster's PostgreSQL tree; without it the script says so
# and exits 0.
# New rows: 10,000 vectors near existing ones (rows 1..10,000 of f, each component moved
# by up to ±0.05: not duplicates, which HNSW would fold into the existing element). For each
# table, inside a transaction that is rolled back (so the tables stay as they were; VACUUM
# afterwards): 100 statements of 100 rows, then 1,000 single-row statements (a plpgsql
# loop: one transaction, so the figures are the index's cost, not commit's). ms and rows/s;
# the table without an index (fb, a copy of f's rows without e's index) is the baseline.
set -euo pipefail
export PGHOST=${ANN_BENCH_DIR:-/tmp/image_search_bench_ann} PGPORT=${ANN_BENCH_PORT:-54391} PGUSER=postgres
if [ "$(psql -X -At -d postgres -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'")" != 1 ]; then
  echo "SKIPPED: pgvector is not installed in this PostgreSQL tree"
  exit 0
fi
psql -X -q -At -d postgres -v ON_ERROR_STOP=1 <<'SQL'
SET client_min_messages = warning;
SELECT setseed(0.25);
DROP TABLE IF EXISTS new_rows;
CREATE TABLE new_rows AS
  SELECT 2000000 + id AS id, ARRAY(SELECT x + (random() - 0.5)::real * 0.1 FROM unnest(e::real[]) x) AS a
    FROM f WHERE id <= 10000;
CREATE TABLE IF NOT EXISTS fb AS SELECT * FROM f;
SQL
for target in "fb|e|image_search.embedding(128)|no index" "f|e|image_search.embedding(128)|ann (sq8, lists 1000)" \
              "fv|v|vector(128)|HNSW (m 16, ef_construction 64)" "fvi|v|vector(128)|IVFFlat (lists 1000)"; do
  IFS='|' read -r table column type label <<<"$target"
  psql -X -q -At -d postgres -v ON_ERROR_STOP=1 <<SQL
SET search_path = public, image_search;
BEGIN;
DO \$\$
DECLARE t0 timestamptz; batch_ms float8; single_ms float8; r record;
BEGIN
  t0 := clock_timestamp();
  FOR b IN 0..99 LOOP
    INSERT INTO $table (id, $column, tag) SELECT id, a::$type, 0 FROM new_rows WHERE id > 2000000 + b * 100 AND id <= 2000000 + (b + 1) * 100;
  END LOOP;
  batch_ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
  t0 := clock_timestamp();
  FOR r IN SELECT id, a FROM new_rows ORDER BY id LIMIT 1000 LOOP
    INSERT INTO $table (id, $column, tag) VALUES (r.id + 1000000, r.a::$type, 0);
  END LOOP;
  single_ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
  RAISE NOTICE '%', format('%-36s 100 x 100 rows %8s ms (%6s rows/s); 1,000 single rows %7s ms (%s ms per row)',
    '$label', round(batch_ms::numeric, 1), round(10000 / batch_ms * 1000), round(single_ms::numeric, 1), round((single_ms / 1000)::numeric, 3));
END \$\$;
ROLLBACK;
SQL
done 2>&1 | sed 's/^NOTICE:  //'
psql -X -q -At -d postgres -c "VACUUM f" -c "VACUUM fv" -c "VACUUM fvi" -c "VACUUM fb" -c "DROP TABLE new_rows"
