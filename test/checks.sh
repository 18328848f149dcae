# PASS/FAIL checks shared by the shell test tiers (sourced after `cd` to the repository and
# scripts/pg_cluster.sh):
# `check NAME COMMAND...` prints "PASS NAME" when the command succeeds and "FAIL NAME"
# otherwise, counting both in $passes and $failures for the tier's summary line.
failures=0; passes=0
check() {
  local name=$1; shift
  if "$@"; then echo "PASS $name"; passes=$((passes + 1)); else echo "FAIL $name"; failures=$((failures + 1)); fi
}
# `q ARGS...`: psql to the tier's cluster (pg_cluster.sh's cluster_start), unaligned and
# quiet, stopping at the first ERROR.
q() { "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d postgres "$@"; }
