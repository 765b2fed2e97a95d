#!/usr/bin/env bash
# A single-node SLURM on this machine, for CI: `local-slurm.sh start` installs Debian's
# slurm and munge packages when missing, writes a slurm.conf (one node named after this
# host, no accounting, no cgroups) and starts munged, slurmctld and slurmd; `stop` stops
# them by their pid files. Needs root (or sudo) for apt-get and the daemons.
set -euo pipefail
STATE=${ASSAY_SLURM_STATE:-/tmp/assay-slurm}
SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)

start() {
    if command -v sinfo >/dev/null && sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
        echo "local SLURM already up: $(sinfo -h -o '%P %D %c %m %T')"
        return 0
    fi
    if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null
    fi
    local host cpus mem
    host=$(hostname -s)
    cpus=$(nproc)
    mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 2048 ))
    $SUDO mkdir -p "$STATE"/{spool,state,log} /etc/slurm /run/munge /var/log/munge /var/lib/munge
    [ -s /etc/munge/munge.key ] || $SUDO mungekey --create >/dev/null 2>&1 || \
        $SUDO dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    $SUDO chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge
    $SUDO chmod 0700 /etc/munge /var/lib/munge && $SUDO chmod 0400 /etc/munge/munge.key
    $SUDO tee /etc/slurm/slurm.conf >/dev/null <<CONF
ClusterName=assay-ci
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/state
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=300
ReturnToService=2
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    if [ -z "$SUDO" ]; then runuser -u munge -- munged --force; else sudo -u munge munged --force; fi
    $SUDO slurmctld
    $SUDO slurmd
    for _ in $(seq 60); do
        if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
            echo "local SLURM up: $(sinfo -h -o '%P %D %c %m %T')"
            return 0
        fi
        sleep 1
    done
    echo "local SLURM did not come up; logs in $STATE/log" >&2
    return 1
}

stop() {
    for daemon in slurmd slurmctld; do
        if [ -s "$STATE/$daemon.pid" ]; then
            $SUDO kill "$(cat "$STATE/$daemon.pid")" 2>/dev/null || true
        fi
    done
    sleep 1
    $SUDO rm -f "$STATE/slurmctld.pid" "$STATE/slurmd.pid"  # slurmctld leaves its pid file
    $SUDO pkill -x munged 2>/dev/null || true
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
