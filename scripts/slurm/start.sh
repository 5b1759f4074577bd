#!/usr/bin/env bash
# Start a private single-node Slurm (with accounting) for medadv's grid tests and small studies.
#
# Usage: scripts/slurm/start.sh [DIR]      (DIR defaults to $MEDADV_SLURM_DIR, then /tmp/medadv-slurm)
#        then: eval "$(scripts/slurm/start.sh)"   or export the SLURM_CONF line it prints.
#
# Why each piece: munged authenticates every Slurm message; MariaDB + slurmdbd give `sacct`, which submitit needs
# to notice jobs that Slurm killed (time limit, scancel); slurmctld schedules; slurmd runs the jobs. Nothing is
# written outside DIR and no system service is touched, so it runs in a container without systemd. Job ids and
# accounting survive a stop/start (state kept in DIR), so log folders named by job id never collide.
# Ports: $MEDADV_SLURM_PORT (default 6817) for slurmctld, +1 slurmd, +2 slurmdbd, +3 MariaDB (127.0.0.1 only).
# Stop with scripts/slurm/stop.sh DIR. Needs root (jobs run as root): install with scripts/slurm/install.sh.
set -euo pipefail

DIR=$(realpath -m "${1:-${MEDADV_SLURM_DIR:-/tmp/medadv-slurm}}")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PORT=${MEDADV_SLURM_PORT:-6817}
CTLD_PORT=$PORT; SLURMD_PORT=$((PORT + 1)); DBD_PORT=$((PORT + 2)); DB_PORT=$((PORT + 3))
TIMEOUT_S=${MEDADV_SLURM_START_TIMEOUT:-90}
CONF=$DIR/etc/slurm.conf
SOCK=$DIR/munge/run/munge.socket.2

die() {
    echo "start.sh: error: $*" >&2
    for log in "$DIR"/log/*.log; do
        [[ -f $log ]] || continue
        echo "----- last lines of $log -----" >&2
        tail -n 25 "$log" >&2
    done
    echo "start.sh: stop what was started with: $HERE/stop.sh $DIR" >&2
    exit 1
}

for prog in munged mungekey mariadbd mariadb-install-db slurmdbd slurmctld slurmd sinfo sacct sbatch; do
    command -v "$prog" >/dev/null 2>&1 || die "'$prog' not found: install Slurm with $HERE/install.sh"
done
[[ $(id -u) == 0 ]] || die "run as root (the daemons and jobs of this test cluster run as root)"

alive() {  # alive NAME: the pid in DIR/run/NAME.pid is a running process
    local pidfile=$DIR/run/$1.pid
    [[ -s $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

export SLURM_CONF=$CONF
if alive munged && alive mariadbd && alive slurmdbd && alive slurmctld && alive slurmd; then
    echo "start.sh: already running in $DIR" >&2
    echo "export SLURM_CONF=$CONF"
    exit 0
fi
"$HERE/stop.sh" "$DIR" >&2  # a partial start: stop what is left, then start everything

for port in "$CTLD_PORT" "$SLURMD_PORT" "$DBD_PORT" "$DB_PORT"; do
    if ss -Hltn "sport = :$port" | grep -q .; then
        die "port $port is in use (another Slurm or database?): set MEDADV_SLURM_PORT to a free base port"
    fi
done

mkdir -p "$DIR"/{etc,run,log,munge/run,state/ctld,state/d,mysql}
chmod 700 "$DIR/munge"
chmod 755 "$DIR/munge/run"  # munge refuses a socket directory others can write or cannot reach
NODE_LINE=$(slurmd -C | head -n 1)  # NodeName=<host> CPUs=... RealMemory=...
NODE=$(sed -E 's/^NodeName=([^ ]+).*/\1/' <<<"$NODE_LINE")

# munge: a private key and socket, so this cluster never talks to (or disturbs) a system munged.
[[ -s $DIR/munge/munge.key ]] || mungekey --create --keyfile="$DIR/munge/munge.key" --force
chmod 600 "$DIR/munge/munge.key"
munged --force --socket="$SOCK" --key-file="$DIR/munge/munge.key" --pid-file="$DIR/run/munged.pid" \
    --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge/munged.seed" ||
    die "munged did not start"

# MariaDB for accounting, on 127.0.0.1 only.
if [[ ! -d $DIR/mysql/data/mysql ]]; then
    mariadb-install-db --no-defaults --user=root --datadir="$DIR/mysql/data" --innodb-log-file-size=16M \
        --auth-root-authentication-method=socket >"$DIR/log/mariadb-install.log" 2>&1 ||
        die "mariadb-install-db failed (see $DIR/log/mariadb-install.log)"
fi
setsid mariadbd --no-defaults --user=root --datadir="$DIR/mysql/data" --socket="$DIR/mysql/mysqld.sock" \
    --pid-file="$DIR/run/mariadbd.pid" --bind-address=127.0.0.1 --port="$DB_PORT" --skip-name-resolve \
    --innodb-buffer-pool-size=64M --innodb-log-file-size=16M --performance-schema=OFF \
    --log-error="$DIR/log/mariadb.log" \
    </dev/null >/dev/null 2>&1 &
for _ in $(seq 1 "$TIMEOUT_S"); do
    mariadb --no-defaults --socket="$DIR/mysql/mysqld.sock" -e "SELECT 1" >/dev/null 2>&1 && break
    sleep 1
done
mariadb --no-defaults --socket="$DIR/mysql/mysqld.sock" -e "
    CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';" || die "MariaDB did not start"

sed -e "s|@DIR@|$DIR|g" -e "s|@SOCK@|$SOCK|g" -e "s|@DBD_PORT@|$DBD_PORT|g" -e "s|@DB_PORT@|$DB_PORT|g" \
    "$HERE/slurmdbd.conf.in" >"$DIR/etc/slurmdbd.conf"
chmod 600 "$DIR/etc/slurmdbd.conf"  # slurmdbd refuses a config others can read (it holds the DB password)
sed -e "s|@DIR@|$DIR|g" -e "s|@SOCK@|$SOCK|g" -e "s|@NODE@|$NODE|g" -e "s|@NODE_LINE@|$NODE_LINE|g" \
    -e "s|@CTLD_PORT@|$CTLD_PORT|g" -e "s|@SLURMD_PORT@|$SLURMD_PORT|g" -e "s|@DBD_PORT@|$DBD_PORT|g" \
    "$HERE/slurm.conf.in" >"$CONF"

slurmdbd || die "slurmdbd did not start"
for _ in $(seq 1 "$TIMEOUT_S"); do
    sacctmgr -i show cluster >/dev/null 2>&1 && break
    sleep 1
done
sacctmgr -i show cluster >/dev/null 2>&1 || die "slurmdbd does not answer"
sacctmgr -i show cluster -n format=cluster | grep -qw medadv || sacctmgr -i add cluster medadv >/dev/null ||
    die "could not register the cluster in slurmdbd"

slurmctld || die "slurmctld did not start"
slurmd -N "$NODE" || die "slurmd did not start"

state=""
for _ in $(seq 1 "$TIMEOUT_S"); do
    state=$(sinfo -h -N -n "$NODE" -o %T 2>/dev/null || true)
    if [[ $state == idle* || $state == mix* || $state == alloc* ]]; then  # up (maybe running recovered jobs)
        break
    fi
    if [[ $state == down* || $state == drain* ]]; then  # e.g. left down by an earlier unclean stop
        scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true
    fi
    sleep 1
done
if [[ $state != idle* && $state != mix* && $state != alloc* ]]; then
    die "node $NODE not idle after ${TIMEOUT_S}s (state: '${state:-no answer}')"
fi
echo "start.sh: Slurm is up in $DIR (node $NODE idle)" >&2
echo "export SLURM_CONF=$CONF"
