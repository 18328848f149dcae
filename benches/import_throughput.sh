#!/usr/bin/env bash
# convert throughput of an imported ResNet-18-sized encoder (11.2 M parameters, 224 x 224,
# random weights: benches/make_resnet18.py) beside Python onnxruntime running the same
# graph on the same images (benches/import_reference.py), on a throwaway cluster.
#   benches/import_throughput.sh [rows]      (default 200; IMAGE_SEARCH_PG_CONFIG as for install.sh)
# The images are the Debian wallpapers of /usr/share/backgrounds (benches/large_photos.sh
# installs more), scaled to 640 pixels wide and cut at different offsets, as JPEG.
# convert is timed end to end: read the rows, decode, resize, normalise, run, write.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-200}
VENV=${IMAGE_SEARCH_VENV:-/opt/image_search/venv}
WORK=/tmp/image_search_import_bench
rm -rf "$WORK"; mkdir -p "$WORK/images"
"$VENV/bin/python" benches/make_resnet18.py "$WORK/resnet18.onnx"
"$VENV/bin/python" - "$WORK/images" "$ROWS" <<'PY'
import glob, sys
from PIL import Image
out, rows = sys.argv[1], int(sys.argv[2])
photos = sorted(glob.glob('/usr/share/backgrounds/*.jpg') + glob.glob('/usr/share/wallpapers/**/*.jpg', recursive=True))
for i in range(rows):
    img = Image.open(photos[i % len(photos)]).convert('RGB')
    img = img.resize((640, max(240, round(img.height * 640 / img.width))), Image.BILINEAR)
    top = (i // len(photos) * 17) % max(1, img.height - 400)
    img.crop((0, top, 640, top + min(480, img.height - top))).save(f'{out}/{i:05d}.jpg', quality=90)
print(f'{rows} JPEG images of 640 pixels wide from {len(photos)} photos')
PY
chmod -R a+rX "$WORK"
source scripts/pg_cluster.sh
cluster_start "$WORK/cluster" 54376
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION image_search" \
  -c "SELECT model_name, embedding_dim, image_size, batch_size FROM image_search.import_model('r18', '$WORK/resnet18.onnx')" \
  -c "CREATE TABLE photos AS SELECT '$WORK/images/' || lpad(i::text, 5, '0') || '.jpg' AS path FROM generate_series(0, $ROWS - 1) i"
batch=$(psql -X -At -c "SELECT LEAST(256, GREATEST(1, 4194304 / (image_size * image_size * channels))) FROM image_search.models WHERE name = 'r18'")
echo "== image_search convert, $ROWS rows (encoder batches of $batch; the session is loaded first)"
for run in 1 2; do
  psql -X -At -c "SELECT image_search.vector_dims(image_search.embed_image('r18', '$WORK/images/00000.jpg'))" -c "\\timing on" \
    -c "SELECT image_search.convert('r18', 'photos', image_col => 'path', replace => $([ $run = 1 ] && echo false || echo true))" \
    | awk '/^Time/ { ms = $2 } /^[0-9]+$/ { n = $1 } END { printf "convert: %d rows in %.0f ms = %.1f images/s\n", n, ms, n / ms * 1000 }'
done
echo "== Python onnxruntime, same graph and images"
"$VENV/bin/python" benches/import_reference.py "$WORK/resnet18.onnx" "$batch" "$WORK"/images/*.jpg
