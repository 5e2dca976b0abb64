#!/usr/bin/env bash
# The course assignments (book/README.md, "Assignments"):
#   scripts/assignments.sh student OUTDIR [--only 7.1,8.1]   the student tree: every
#                              solution region replaced by a NotImplemented stub
#   scripts/assignments.sh grade [TREE] [--extra-tests DIR] [--json FILE] [--build DIR]
#                              build TREE (default: this repository) in TREE/build-grade
#                              and print a score table per assignment
#   scripts/assignments.sh list | check                      what is marked where
# Extra configure arguments for grading go through --cmake-arg, e.g.
#   scripts/assignments.sh grade /tmp/student --cmake-arg=-DKILN_CUDA=OFF
set -euo pipefail
exec python3 "$(dirname "$0")/../book/tools/assignments.py" "$@"
