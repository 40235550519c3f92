#!/usr/bin/env bash
# Start a throwaway single-node SLURM cluster on this machine (root only):
# munged, slurmctld and slurmd, no accounting database, one fake GPU gres.
#
#   scripts/slurm/start_cluster.sh          # install if needed, (re)start, wait until idle
#   scripts/slurm/stop_cluster.sh           # stop exactly the daemons started here
#
# Why each setting: there are no cgroups in a container, so process tracking is
# linuxproc and tasks are not bound (task/none); no slurmdbd, so accounting is
# off and job status comes from squeue, which needs finished jobs to stay
# visible for a while (MinJobAge); `config_overrides` lets slurmd accept the
# declared node (CPUs, memory, GPUs) instead of draining it when the container
# reports a different topology; GPUs are declared by count only, without
# device files, so GPU requests are scheduled and counted but no device exists.
#
# Everything lives under $COMPACTBIO_SLURM_STATE (default /tmp/compactbio-slurm):
# state, spool, logs and the daemons' pid files.  The config is written to
# /etc/slurm (where every SLURM client looks) and is refused if a slurm.conf
# not written by this script is already there.  Running it again on the same
# machine stops the previous daemons (by pid file), wipes the state and starts
# afresh.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
STATE="${COMPACTBIO_SLURM_STATE:-/tmp/compactbio-slurm}"
GPUS="${COMPACTBIO_SLURM_GPUS:-2}"
MARK="# written by compactbio scripts/slurm/start_cluster.sh"
CONF_DIR=/etc/slurm

[ "$(id -u)" = 0 ] || { echo "start_cluster.sh: must run as root (installs packages, starts daemons)" >&2; exit 1; }

# --- install --------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  echo "installing slurm-wlm and munge" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

# --- stop what an earlier run left, wipe its state -----------------------------
COMPACTBIO_SLURM_STATE="$STATE" "$HERE/stop_cluster.sh"
if [ -f "$CONF_DIR/slurm.conf" ] && ! grep -qF "$MARK" "$CONF_DIR/slurm.conf"; then
  echo "start_cluster.sh: $CONF_DIR/slurm.conf exists and was not written by this script; refusing to overwrite" >&2
  exit 1
fi
rm -rf "$STATE/ctld" "$STATE/d" "$STATE/log" "$STATE/dev"
mkdir -p "$STATE/ctld" "$STATE/d" "$STATE/log" "$STATE/run" "$CONF_DIR"

# --- munge ------------------------------------------------------------------
if [ ! -s /etc/munge/munge.key ]; then
  if command -v mungekey >/dev/null; then mungekey --create --keyfile=/etc/munge/munge.key
  else dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none; fi
fi
chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
mkdir -p /run/munge /var/lib/munge /var/log/munge
chown munge:munge /run/munge /var/lib/munge /var/log/munge "$STATE/run"
chmod 0755 /run/munge
rm -f /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock
runuser -u munge -- /usr/sbin/munged --pid-file="$STATE/run/munged.pid"
munge -n | unmunge >/dev/null || { echo "munge does not work" >&2; exit 1; }

# --- config -----------------------------------------------------------------
HOST="$(hostname -s)"
CPUS="${COMPACTBIO_SLURM_CPUS:-$(nproc)}"
MEM_MB="$(awk '/^MemTotal:/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)"
cat > "$CONF_DIR/slurm.conf" <<CONF
$MARK
ClusterName=compactbio
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=600
JobRequeue=1
KillWait=10
GresTypes=gpu
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB Gres=gpu:$GPUS State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
# The gpu gres plugin ignores count-only lines (the node then reports 0 GPUs
# and is drained), so each fake GPU gets a device file: a character device with
# /dev/null's numbers, so slurmd sets CUDA_VISIBLE_DEVICES as on a real GPU node.
# Where mknod is not allowed a plain file still lets jobs get GPUs scheduled
# (slurmd logs an error and sets only SLURM_GPUS_ON_NODE).
mkdir -p "$STATE/dev"
for i in $(seq 0 $((GPUS - 1))); do
  mknod "$STATE/dev/fakegpu$i" c 1 3 2>/dev/null || : > "$STATE/dev/fakegpu$i"
done
cat > "$CONF_DIR/gres.conf" <<CONF
$MARK
AutoDetect=off
NodeName=$HOST Name=gpu File=$STATE/dev/fakegpu[0-$((GPUS - 1))] Flags=nvidia_gpu_env
CONF
echo "$STATE" > "$CONF_DIR/compactbio-state"

# --- daemons (they daemonise and write their own pid files) -------------------
/usr/sbin/slurmctld
/usr/sbin/slurmd

# --- wait until the node is idle ----------------------------------------------
for _ in $(seq 1 60); do
  state="$(sinfo -h -N -n "$HOST" -o '%t' 2>/dev/null || true)"
  if [ "$state" = "idle" ]; then
    echo "SLURM is up: node $HOST idle ($CPUS CPUs, ${MEM_MB} MB, gpu:$GPUS); state in $STATE" >&2
    exit 0
  fi
  sleep 1
done
echo "start_cluster.sh: node $HOST not idle after 60 s (state: ${state:-none})" >&2
sinfo -R >&2 || true
tail -n 20 "$STATE/log/slurmctld.log" "$STATE/log/slurmd.log" >&2 || true
exit 1
