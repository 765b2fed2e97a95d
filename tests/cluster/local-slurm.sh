#!/usr/bin/env bash
# A single-node SLURM on this machine, for CI: `local-slurm.sh start` installs Debian's
# slurm and munge packages when missing, writes a slurm.conf (one node named after this
# host, no accounting, no cgroups) and starts munged, slurmctld and slurmd; `stop` stops
# them by their pid files. Needs root (or sudo) for apt-get and the daemons.
#
# `stop` leaves the machine's SLURM configuration as `start` found it: it removes the
# slurm.conf `start` wrote and puts back one that was there before. A slurm.conf left
# behind points SLURM's commands at a controller that no longer runs, and every `scontrol`
# then waits about 10 s for it; the SLURM executor plugin runs one whenever Snakemake
# starts, so a no-op `snakemake --cores 2` took 10.2 s instead of 1.3 s on a machine CI had
# used. (The configuration cannot live elsewhere through SLURM_CONF: the plugin's job step
# drops SLURM_* variables before it calls srun.) `stop` touches nothing `start` did not
# start: a SLURM that was already up is left alone.
set -euo pipefail
STATE=${ASSAY_SLURM_STATE:-/tmp/assay-slurm}
SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
CONF_FILE=/etc/slurm/slurm.conf
# What start started: stop acts only where this file is.
STARTED="$STATE/started-here"

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
    if [ -f "$CONF_FILE" ] && ! grep -q '^ClusterName=assay-ci$' "$CONF_FILE"; then
        $SUDO mv "$CONF_FILE" "$STATE/slurm.conf.before"  # the machine's own: stop puts it back
    fi
    $SUDO touch "$STARTED"
    [ -s /etc/munge/munge.key ] || $SUDO mungekey --create >/dev/null 2>&1 || \
        $SUDO dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    $SUDO chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge
    $SUDO chmod 0700 /etc/munge /var/lib/munge && $SUDO chmod 0400 /etc/munge/munge.key
    $SUDO tee "$CONF_FILE" >/dev/null <<CONF
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
    if [ ! -e "$STARTED" ]; then
        echo "local SLURM: not started by this script; nothing to stop"
        return 0
    fi
    for daemon in slurmd slurmctld; do
        if [ -s "$STATE/$daemon.pid" ]; then
            $SUDO kill "$(cat "$STATE/$daemon.pid")" 2>/dev/null || true
        fi
    done
    sleep 1
    $SUDO rm -f "$STATE/slurmctld.pid" "$STATE/slurmd.pid"  # slurmctld leaves its pid file
    $SUDO pkill -x munged 2>/dev/null || true
    $SUDO rm -f "$CONF_FILE"
    if [ -f "$STATE/slurm.conf.before" ]; then
        $SUDO mv "$STATE/slurm.conf.before" "$CONF_FILE"
    fi
    $SUDO rm -f "$STARTED"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
