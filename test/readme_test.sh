#!/usr/bin/env bash
# README doc test: every ```sql block of README.md, in order, as a new user would type
# them into psql on the cluster `scripts/cluster.sh start` gives (a fresh one here, on
# its own directory and port). Fails at the first ERROR and shows where.
#   bash test/readme_test.sh      (needs root; builds and installs the extension)
set -euo pipefail
cd "$(dirname "$0")/.."
export IMAGE_SEARCH_CLUSTER_DIR=${README_TEST_DIR:-/tmp/image_search_readme}
export IMAGE_SEARCH_CLUSTER_PORT=${README_TEST_PORT:-54383}
scripts/cluster.sh stop >/dev/null 2>&1 || true
rm -rf "$IMAGE_SEARCH_CLUSTER_DIR"
trap 'scripts/cluster.sh stop >/dev/null' EXIT
scripts/cluster.sh start >/dev/null
blocks=$IMAGE_SEARCH_CLUSTER_DIR/readme_blocks.sql
awk '/^```sql/ { inside = 1; n++; printf "\\echo == README.md block %d (line %d)\n", n, NR; next }
     /^```/    { inside = 0; next }
     inside' README.md > "$blocks"
echo "README.md: $(grep -c '^\\echo == README.md block' "$blocks") SQL blocks"
if scripts/cluster.sh psql -X -v ON_ERROR_STOP=1 -f "$blocks" > "$IMAGE_SEARCH_CLUSTER_DIR/readme_output.txt" 2>&1; then
  echo "PASS every SQL block of README.md runs as written"
else
  tail -25 "$IMAGE_SEARCH_CLUSTER_DIR/readme_output.txt"
  echo "FAIL a README.md SQL block stopped with an error (above; the block's line is the last '== README.md block')"
  exit 1
fi
