#!/usr/bin/env bash
# Runs the tutorial end to end on a throwaway local PostgreSQL 15 cluster:
# installs what is missing, builds and installs the extension, starts a cluster,
# runs tutorial_data/tutorial.sql with psql, writes results/top4.png.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s.%N)
scripts/setup.sh
scripts/install.sh
source scripts/pg_cluster.sh
cluster_start "${IMAGE_SEARCH_DEMO_DIR:-/tmp/image_search_demo}" 54329
mkdir -p results
tutorial_started=$(date +%s.%N)
psql -X -q -d postgres -f tutorial_data/tutorial.sql
base64 -d results/top4.png.b64 > results/top4.png && rm results/top4.png.b64
now=$(date +%s.%N)
awk -v a="$started" -v t="$tutorial_started" -v n="$now" 'BEGIN {
  printf "\nWrote results/top4.png. Tutorial SQL: %.1f s; whole demo including setup and build: %.1f s\n", n - t, n - a }'
