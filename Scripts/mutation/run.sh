#!/usr/bin/env bash
# The mutation harness of the conformance suite: applies each mutant of Scripts/mutation/mutants/ to a private copy
# of the working tree (.build-mutation/tree), builds herald incrementally, runs `herald conform` against the mutated
# embedded engine and prints one line per mutant, then "N killed, N survived" and the score.
#
#   Scripts/mutation/run.sh [--only ID,...] [--list] [--work DIR] [--results FILE]
#                           [--build-timeout S] [--suite-timeout S] [--no-baseline]
#
# See Scripts/mutation/README.md. Exit status: 0 done (whatever the score); 1 the unmutated tree does not build or
# its suite fails; 2 usage or a malformed mutant; 130 interrupted (the work copy is restored).
set -euo pipefail
exec python3 "$(cd "$(dirname "$0")" && pwd)/mutate.py" "$@"
