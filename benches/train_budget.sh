#!/usr/bin/env bash
# How much of a time budget (build_model's max_seconds) two builds of the library use, A/B
# in one run: two running clusters, each with image_search installed and the tutorial's
# mnist_train loaded (load_csv), built in turn on the same images.
#   A=/socket/dir:port B=/socket/dir:port benches/train_budget.sh [budget seconds] [pairs]
set -euo pipefail
BUDGET=${1:-20}
PAIRS=${2:-3}
for i in $(seq "$PAIRS"); do
  for side in A B; do
    IFS=: read -r host port <<<"${!side}"
    run() { PGHOST=$host PGPORT=$port PGUSER=postgres PGDATABASE=image_search psql -X -At -q "$@"; }
    run -c "SET client_min_messages = warning" \
      -c "SELECT image_search.build_model('budget', 'SELECT * FROM mnist_train', image_col => 'img_path', max_seconds => $BUDGET, overwrite => true)" >/dev/null
    run -c "SELECT format('%s: max_seconds $BUDGET: %s epochs, %s s (first epoch %s s, then %s s each)', '$side',
                   jsonb_array_length(epoch_log), round(train_seconds::numeric, 1), round((epoch_log->0->>'seconds')::numeric, 2),
                   round((((epoch_log->-1->>'seconds')::float - (epoch_log->0->>'seconds')::float)
                          / greatest(jsonb_array_length(epoch_log) - 1, 1))::numeric, 3))
            FROM image_search.models WHERE name = 'budget'"
  done
done
