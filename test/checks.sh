# PASS/FAIL checks shared by the shell test tiers (sourced after `cd` to the repository):
# `check NAME COMMAND...` prints "PASS NAME" when the command succeeds and "FAIL NAME"
# otherwise, counting both in $passes and $failures for the tier's summary line.
failures=0; passes=0
check() {
  local name=$1; shift
  if "$@"; then echo "PASS $name"; passes=$((passes + 1)); else echo "FAIL $name"; failures=$((failures + 1)); fi
}
