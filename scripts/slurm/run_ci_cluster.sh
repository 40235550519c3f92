#!/usr/bin/env bash
# CI: start the single-node SLURM, run the cluster tests against it, stop it
# (also when the tests fail).  Needs root; skipped with a message otherwise.
#
#   scripts/slurm/run_ci_cluster.sh            # from .ci/run
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "run_ci_cluster.sh: needs root and apt-get; SLURM tests not run" >&2
  exit 0
fi
trap 'scripts/slurm/stop_cluster.sh' EXIT
scripts/slurm/start_cluster.sh
COMPACTBIO_SLURM=1 python -m pytest tests/test_slurm.py -m slurm -q
