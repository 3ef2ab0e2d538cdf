#!/usr/bin/env bash
# Runs the whole ctest suite for a build directory, then names every skipped test and the
# reason it printed — a skip is never silent.
set -uo pipefail
build=${1:?usage: run-tests.sh BUILD_DIR PRESET}
preset=${2:?usage: run-tests.sh BUILD_DIR PRESET}

ctest --preset "$preset" --parallel 2
status=$?

log="$build/Testing/Temporary/LastTest.log"
if [ -f "$log" ] && grep -q '^SKIPPED:' "$log"; then
    echo
    echo "Skipped tests and why:"
    awk '/^[0-9]+\/[0-9]+ Testing: / { sub(/^[0-9]+\/[0-9]+ Testing: /, ""); name = $0 }
         /^SKIPPED: / { sub(/^SKIPPED: /, ""); print "  " name ": " $0 }' "$log"
fi
exit $status
