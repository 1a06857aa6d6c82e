#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine (munge, slurmctld, slurmd), for the slurm-marked tests
# and for trying hydra/launcher=slurm before a real cluster.
#
#   scripts/slurm-cluster.sh start     start it (idempotent), print the environment to use it
#   scripts/slurm-cluster.sh stop      stop every daemon by its own PID (idempotent)
#   scripts/slurm-cluster.sh status
#   eval "$(scripts/slurm-cluster.sh env)"   SLURM_CONF and PATH for sbatch, squeue, scancel, sacct
#
# Needs root and Debian's slurm-wlm and munge packages (apt-get install slurm-wlm munge). Everything lives
# in $SLURM_CLUSTER_DIR (default /run/cifar-sweep-slurm: munged wants every directory on its socket's path
# to be 0755, which /tmp is not). No accounting daemon: `sacct` is a stand-in (scripts/slurm_sacct.py)
# that reads `scontrol show job`, which keeps finished jobs for MinJobAge seconds.
set -euo pipefail
dir=${SLURM_CLUSTER_DIR:-/run/cifar-sweep-slurm}
here=$(cd "$(dirname "$0")" && pwd)
host=$(hostname -s)
daemons=(slurmd slurmctld munged)  # stopped in this order

alive() { [ -f "$dir/run/$1.pid" ] && kill -0 "$(cat "$dir/run/$1.pid")" 2>/dev/null; }

env_lines() {
  echo "export SLURM_CONF=$dir/slurm.conf"
  echo "export PATH=$dir/bin:\$PATH"
}

write_config() {
  local cpus mem
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
  cat > "$dir/slurm.conf" <<CONF
ClusterName=cifar-sweep-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
SlurmctldPort=${SLURM_CTLD_PORT:-6817}
SlurmdPort=${SLURMD_PORT:-6818}
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=3600
KillWait=5
InactiveLimit=0
MpiDefault=none
SchedulerParameters=sched_interval=1
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
}

start() {
  for d in "${daemons[@]}"; do alive "$d" || true; done
  if alive munged && alive slurmctld && alive slurmd; then env_lines; return; fi
  stop >/dev/null
  mkdir -p "$dir"/{munge,state,spool,run,log,bin}
  chmod 0755 "$dir" "$dir/munge"
  if [ ! -f "$dir/munge/munge.key" ]; then
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
    chmod 0400 "$dir/munge/munge.key"
  fi
  munged --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" --pid-file="$dir/run/munged.pid" \
    --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed"
  write_config
  cat > "$dir/bin/sacct" <<SACCT
#!/bin/sh
exec ${PYTHON:-python3} "$here/slurm_sacct.py" "\$@"
SACCT
  chmod +x "$dir/bin/sacct"
  SLURM_CONF=$dir/slurm.conf slurmctld -c
  SLURM_CONF=$dir/slurm.conf slurmd -c
  for _ in $(seq 100); do
    state=$(SLURM_CONF=$dir/slurm.conf sinfo -h -o %T 2>/dev/null || true)
    [ "$state" = idle ] && { env_lines; return; }
    sleep 0.2
  done
  echo "the test cluster did not come up (node state: ${state:-none}); see $dir/log/" >&2
  exit 1
}

stop() {
  for d in "${daemons[@]}"; do
    if alive "$d"; then
      pid=$(cat "$dir/run/$d.pid")
      kill "$pid"
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/run/$d.pid"
  done
  echo "stopped"
}

status() {
  for d in munged slurmctld slurmd; do
    if alive "$d"; then echo "$d: running (pid $(cat "$dir/run/$d.pid"))"; else echo "$d: stopped"; fi
  done
}

case "${1:-status}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) env_lines ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
