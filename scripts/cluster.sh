#!/usr/bin/env bash
# A PostgreSQL 15 cluster of your own with image_search installed, for typing the
# README's SQL by hand. It keeps running between commands until you stop it.
#   scripts/cluster.sh start    # installs what is missing, builds and installs the extension,
#                               # starts the cluster and creates database image_search
#   scripts/cluster.sh psql     # psql into it (extra arguments go to psql)
#   scripts/cluster.sh env      # the PGHOST/PGPORT/PGUSER/PGDATABASE lines to connect other clients
#   scripts/cluster.sh stop
# image_search.image_root is the checkout, so the tutorial's relative paths work.
# The cluster lives in $IMAGE_SEARCH_CLUSTER_DIR (default /tmp/image_search_cluster), port
# $IMAGE_SEARCH_CLUSTER_PORT (default 54320), reachable only through its Unix socket.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${IMAGE_SEARCH_CLUSTER_DIR:-/tmp/image_search_cluster}
PORT=${IMAGE_SEARCH_CLUSTER_PORT:-54320}
source scripts/pg_cluster.sh
connect() { export PGHOST=$DIR PGPORT=$PORT PGUSER=postgres PGDATABASE=image_search; }

case "${1:-}" in
  start)
    scripts/setup.sh
    scripts/install.sh
    if [ -f "$DIR/data/postmaster.pid" ] && as_postgres "$PGBIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
      echo "already running in $DIR"
    else
      cluster_start "$DIR" "$PORT"
      trap - EXIT  # keep it running after this script ends
      as_postgres "$PGBIN/createdb" -h "$DIR" -p "$PORT" image_search
      echo "started in $DIR (port $PORT); database image_search"
    fi
    echo "connect with: scripts/cluster.sh psql"
    ;;
  psql)
    shift; connect; exec "$PGBIN/psql" "$@" ;;
  env)
    connect; echo "export PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=$PGUSER PGDATABASE=$PGDATABASE" ;;
  stop)
    CLUSTER_DIR=$DIR; cluster_stop; echo "stopped" ;;
  *)
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
