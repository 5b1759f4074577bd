#!/usr/bin/env bash
# Install a single-node Slurm (22.05 on Debian 12) with accounting, for medadv's grid tests.
# Idempotent: does nothing when the programs are already there. Needs root (or sudo).
set -euo pipefail

need=(munged slurmctld slurmd slurmdbd sbatch sacct mariadbd)
missing=0
for prog in "${need[@]}"; do
    if ! command -v "$prog" >/dev/null 2>&1 && [[ ! -x "/usr/sbin/$prog" ]]; then
        missing=1
    fi
done
if [[ $missing == 0 ]]; then
    echo "slurm, munge and mariadb are already installed"
    exit 0
fi

sudo=""
if [[ $(id -u) != 0 ]]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y --no-install-recommends munge slurmctld slurmd slurm-client slurmdbd mariadb-server
