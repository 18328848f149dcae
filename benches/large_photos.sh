#!/usr/bin/env bash
# Large colour photos: convert throughput and one training epoch on 40 wallpapers from
# Debian packages (real photographs, several megapixels each), on a throwaway cluster.
#   benches/large_photos.sh [BEFORE_SO]
# Installs the wallpaper packages if they are missing. Prints the photos' sizes, then
# build_model (1 epoch, colour) and convert of 200 rows (the 40 photos x 5), images/s.
# With BEFORE_SO (an image_search.so built from an older commit for the same
# extension version), the same measurements run first with that library (swapped
# into the PostgreSQL tree for those sessions, then put back), and the cosine
# between the two builds' embeddings of the 40 photos under one model is printed.
# Last, convert again with the installed build decoding on one thread
# (RAYON_NUM_THREADS=1 in the server's environment) beside the default (one per core).
# IMAGE_SEARCH_BENCH_PORT picks the cluster's port (default 54373).
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(mate-backgrounds lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 plasma-workspace-wallpapers)
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ -n "${missing[*]:-}" ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The 40 largest JPEG files of those packages, in a fixed order.
list=/tmp/image_search_large_photos.txt
find /usr/share/backgrounds /usr/share/wallpapers -name '*.jpg' -size +300k -printf '%s %p\n' \
  | sort -k1,1nr -k2 | head -40 | awk '{ print $2 }' | sort > "$list"
python3 - "$list" <<'PY'
import struct, sys, statistics
def jpeg_size(path):
    data = open(path, 'rb').read()
    i = 2
    while i < len(data):
        marker, length = data[i + 1], struct.unpack('>H', data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            h, w = struct.unpack('>HH', data[i + 5:i + 9])
            return w * h
        i += 2 + length
mp = [jpeg_size(p.strip()) / 1e6 for p in open(sys.argv[1])]
print(f"{len(mp)} photos: median {statistics.median(mp):.1f} MP, largest {max(mp):.1f} MP, smallest {min(mp):.1f} MP")
PY
before_so=${1:-}
source scripts/pg_cluster.sh
port=${IMAGE_SEARCH_BENCH_PORT:-54373}
cluster_start "/tmp/image_search_bench_photos_$port" "$port"
psql -X -q -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" -c "CREATE EXTENSION image_search" \
  -c "CREATE TABLE photos (img_path text)" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -c "\\copy photos FROM '$list'"

# Each build/convert runs in a fresh session, which loads the library file as it is then.
measure() { # $1: suffix of the model and tables
  psql -X -q -v ON_ERROR_STOP=1 -c "CREATE TABLE many_$1 AS SELECT img_path FROM photos, generate_series(1, 5)" \
    -c "CREATE TABLE photos_$1 AS SELECT img_path FROM photos" >/dev/null
  echo "== build_model on the 40 photos, 1 epoch (colour, 32 px): decode + train"
  psql -X -At -c "SELECT format('%s s, %s images/s', round(seconds::numeric, 2), round(images_per_second::numeric))
                  FROM image_search.build_model('photos_$1', 'SELECT img_path FROM photos', image_col => 'img_path',
                                                max_epochs => 1, batch_size => 20)" 2>/dev/null
  echo "== convert: 200 rows (the 40 photos x 5), a fresh session"
  convert_many "$1"
}
# Wall time, and the CPU time of the backend (all its threads, from /proc/self/stat),
# which swings much less than wall time on a machine shared with other work.
convert_many() { # $1: suffix of the model and table
  psql -X -At -v ON_ERROR_STOP=1 <<SQL | awk '/^Time/ { ms = $2 } /^rows/ { n = $2 } /^ticks/ { cpu = $2 * 1000 / '"$(getconf CLK_TCK)"' }
    END { printf "%d rows in %.0f ms = %.0f images/s; backend CPU %.0f ms = %.1f ms per image\n", n, ms, n / ms * 1000, cpu, cpu / n }'
SELECT split_part(s, ' ', 14)::bigint + split_part(s, ' ', 15)::bigint AS ticks0 FROM pg_read_file('/proc/self/stat') s \gset
\\timing on
SELECT 'rows ' || image_search.convert('photos_$1', 'many_$1', image_col => 'img_path', replace => true);
\\timing off
SELECT 'ticks ' || (split_part(s, ' ', 14)::bigint + split_part(s, ' ', 15)::bigint - :ticks0) FROM pg_read_file('/proc/self/stat') s;
SQL
}
decoding_threads() { # $1: 1, or "" for rayon's default (one per core); restarts the server
  as_postgres env ${1:+RAYON_NUM_THREADS=$1} "$PGBIN/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" \
    -w restart >/dev/null
}
compare_threads() { # $1: suffix of a model and table already converted once
  for threads in 1 ""; do
    decoding_threads "$threads"
    echo "== convert again, decoding on ${threads:-one thread per core (default)}${threads:+ thread}"
    convert_many "$1"
  done
}

if [ -z "$before_so" ]; then
  measure now
  compare_threads now
  exit 0
fi
installed="$($PG_CONFIG_BIN --pkglibdir)/image_search.so"
cp "$installed" /tmp/image_search_bench_after.so
use_library() { cp "$1" "$installed.new" && mv "$installed.new" "$installed"; } # a rename: running backends keep theirs
trap 'use_library /tmp/image_search_bench_after.so; cluster_stop' EXIT
use_library "$before_so"
echo "==== before: $before_so"
measure before
psql -X -q -v ON_ERROR_STOP=1 -c "SELECT image_search.convert('photos_before', 'photos_before', image_col => 'img_path')" >/dev/null
use_library /tmp/image_search_bench_after.so
echo "==== after: the installed build"
measure after
psql -X -q -v ON_ERROR_STOP=1 -c "SELECT image_search.convert('photos_before', 'photos_after', image_col => 'img_path')" >/dev/null
echo "== cosine between the before and after embeddings of the 40 photos (model photos_before)"
psql -X -At -c "SELECT format('min %s, median %s, mean %s', round(min(c)::numeric, 4),
                         round((percentile_cont(0.5) WITHIN GROUP (ORDER BY c))::numeric, 4), round(avg(c)::numeric, 4))
                FROM (SELECT 1 - (b.photos_before_simclr <=> a.photos_before_simclr) AS c
                      FROM photos_before b JOIN photos_after a USING (img_path)) s"
compare_threads after
