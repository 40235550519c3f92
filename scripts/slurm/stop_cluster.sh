#!/usr/bin/env bash
# Stop the single-node test cluster started by start_cluster.sh: cancel its
# jobs, then end slurmd, slurmctld and munged by the pids in their pid files.
# A pid is signalled only while /proc says it is still that daemon, so a stale
# pid file (machine rebooted, pid reused) is just removed.  Safe to run twice,
# or when nothing was started.
set -uo pipefail

STATE="${COMPACTBIO_SLURM_STATE:-/tmp/compactbio-slurm}"
RUN="$STATE/run"

alive() {  # alive PID NAME: the pid exists and is the named program
  [ -n "$1" ] && [ -r "/proc/$1/comm" ] && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ]
}

stop() {  # stop NAME: TERM, wait up to 15 s, then KILL
  local name="$1" file="$RUN/$1.pid" pid
  [ -f "$file" ] || return 0
  pid="$(tr -dc '0-9' < "$file")"
  if alive "$pid" "$name"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do alive "$pid" "$name" || break; sleep 0.5; done
    if alive "$pid" "$name"; then
      echo "stop_cluster.sh: $name ($pid) ignored TERM, killing" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    echo "stopped $name ($pid)" >&2
  fi
  rm -f "$file"
}

# Jobs first, while slurmctld still answers, so no job step outlives the daemons.
if [ -f "$RUN/slurmctld.pid" ] && alive "$(tr -dc '0-9' < "$RUN/slurmctld.pid")" slurmctld; then
  jobs="$(squeue -h -o '%A' 2>/dev/null || true)"
  if [ -n "$jobs" ]; then
    # shellcheck disable=SC2086
    scancel $jobs 2>/dev/null || true
    for _ in $(seq 1 20); do [ -z "$(squeue -h -t R,CG -o '%A' 2>/dev/null)" ] && break; sleep 0.5; done
  fi
fi
stop slurmd
stop slurmctld
stop munged
exit 0
