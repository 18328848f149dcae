# Throwaway PostgreSQL 15 clusters for the demo and the SQL golden tests.
# Root may not run initdb, so the cluster belongs to the `postgres` user and listens
# only on a Unix socket inside its own directory. Source this file, then:
#   cluster_start DIR PORT   # fresh cluster; exports PGHOST PGPORT PGUSER
#   cluster_stop             # stops it (also registered on EXIT)
# IMAGE_SEARCH_PG_CONFIG may name another PostgreSQL 15 tree (side-by-side work).
PG_CONFIG_BIN=${IMAGE_SEARCH_PG_CONFIG:-/usr/bin/pg_config}
PGBIN=$($PG_CONFIG_BIN --bindir)
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# The server runs as `postgres`. When it cannot read the checkout (a clone under
# /root, say), relative image paths resolve against a readable copy of the image
# folders (tutorial_data, test/data; symbolic links are kept as links).
image_root() {
  if sudo -u postgres test -r "$REPO_ROOT/tutorial_data/mnist_data/mnist_train.csv" 2>/dev/null; then
    echo "$REPO_ROOT"
  else
    local mirror=/tmp/image_search_image_root
    rm -rf "$mirror"; mkdir -p "$mirror/test"
    cp -R "$REPO_ROOT/tutorial_data" "$mirror/"
    cp -R "$REPO_ROOT/test/data" "$mirror/test/"
    chmod -R a+rX "$mirror"
    echo "$mirror"
  fi
}

as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"; else sudo -u postgres "$@"; fi
}

cluster_start() {
  CLUSTER_DIR=$1
  local port=$2
  cluster_stop 2>/dev/null || true
  rm -rf "$CLUSTER_DIR"
  mkdir -p "$CLUSTER_DIR"
  chown postgres "$CLUSTER_DIR" 2>/dev/null || true
  as_postgres "$PGBIN/initdb" -D "$CLUSTER_DIR/data" -A trust -U postgres --no-sync >/dev/null
  # The tutorial's relative image paths resolve against the repository root.
  cat >> "$CLUSTER_DIR/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$CLUSTER_DIR'
port = $port
fsync = off
image_search.image_root = '$(image_root)'
CONF
  as_postgres "$PGBIN/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" -w start >/dev/null
  export PGHOST=$CLUSTER_DIR PGPORT=$port PGUSER=postgres
  trap cluster_stop EXIT
}

# cluster_settings 'name = value' ...: adds the settings to the running cluster's
# postgresql.conf and restarts it (for settings such as shared_buffers that need one).
cluster_settings() {
  printf '%s\n' "$@" >> "$CLUSTER_DIR/data/postgresql.conf"
  as_postgres "$PGBIN/pg_ctl" -D "$CLUSTER_DIR/data" -w restart -l "$CLUSTER_DIR/server.log" >/dev/null
}

cluster_stop() {
  [ -n "${CLUSTER_DIR:-}" ] && [ -d "$CLUSTER_DIR/data" ] || return 0
  as_postgres "$PGBIN/pg_ctl" -D "$CLUSTER_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
}
