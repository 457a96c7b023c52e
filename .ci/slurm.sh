#!/usr/bin/env bash
# A real single-node SLURM on this machine (Debian's slurm-wlm 22.05 and munge), for the SLURM
# tests (tests/rl_harness/test_slurm.py). Idempotent: installs only if missing, starts only what
# is down. Prints the partition's name on stdout; progress goes to stderr. Needs root.
#   export RL_HARNESS_TEST_SLURM=$(bash .ci/slurm.sh)
set -euo pipefail
log() { echo "slurm: $*" >&2; }

if ! command -v slurmctld >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
    log "installing slurm-wlm and munge (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq slurm-wlm munge >/dev/null
fi

# munge: a key, then the daemon as user munge
if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
mkdir -p /run/munge && chown munge:munge /run/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    log "starting munged"
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.2; done
fi

host=$(hostname)
cpus=$(nproc)
mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
mkdir -p /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /etc/slurm
conf=/etc/slurm/slurm.conf
want=$(cat <<EOF
ClusterName=rl-harness
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
)
if [ ! -f "$conf" ] || [ "$(cat "$conf")" != "$want" ]; then
    echo "$want" > "$conf"
fi
# no cgroup.conf: Slurm 22.05 has no CgroupPlugin=disabled, and starts without the file
pgrep -x slurmctld >/dev/null || { log "starting slurmctld"; /usr/sbin/slurmctld; }
pgrep -x slurmd >/dev/null || { log "starting slurmd"; /usr/sbin/slurmd; }
for _ in $(seq 100); do
    if sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
        echo debug
        exit 0
    fi
    scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true
    sleep 0.3
done
log "the node did not become idle: $(sinfo 2>&1 | tail -1)"
exit 1
