#!/usr/bin/env bash
# A one-node SLURM cluster on the local host (Debian 12 packages, no systemd, no accounting) for the integration test.
# Usage (as root): tests/slurm/start_cluster.sh [CPUS] [MEMORY_MB]   -- idempotent; prints the node state.
# Installs munge, slurmctld, slurmd and slurm-client when missing.
set -euo pipefail
CPUS=${1:-$(nproc)}
MEM=${2:-$(( $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) * 8 / 10 ))}
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  apt-get install -y --no-install-recommends munge slurmctld slurmd slurm-client \
    || { apt-get update && apt-get install -y --no-install-recommends munge slurmctld slurmd slurm-client; }
fi
mkdir -p /etc/slurm /run/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
chown slurm:slurm /run/slurm /var/spool/slurmctld /var/log/slurm
chown munge:munge /run/munge
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=weakdriven-test
SlurmctldHost=localhost
SlurmUser=slurm
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ReturnToService=2
# keep finished jobs queryable with scontrol for 10 h (default 300 s: a long test run's first jobs were gone)
MinJobAge=36000
NodeName=localhost NodeAddr=127.0.0.1 CPUs=${CPUS} RealMemory=${MEM} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP DefMemPerCPU=1000
CONF
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
  chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
fi
pgrep -x munged >/dev/null || su -s /bin/sh munge -c /usr/sbin/munged
if pgrep -x slurmctld >/dev/null; then scontrol reconfigure; else slurmctld; fi  # a running one rereads the file
pgrep -x slurmd >/dev/null || slurmd -N localhost
for _ in $(seq 60); do
  state=$(sinfo -h -o %T 2>/dev/null | head -1 || true)
  if [ "$state" = "idle" ] || [ "$state" = "mixed" ] || [ "$state" = "allocated" ]; then
    echo "slurm node: $state"; exit 0
  fi
  scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true
  sleep 1
done
echo "slurm did not come up: $(sinfo 2>&1)" >&2
exit 1
