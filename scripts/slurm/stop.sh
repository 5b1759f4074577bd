#!/usr/bin/env bash
# Stop the test cluster that scripts/slurm/start.sh started in DIR (arg, $MEDADV_SLURM_DIR, /tmp/medadv-slurm).
#
# Only the daemons recorded in DIR/run/*.pid are stopped (never by name: other Slurm or MariaDB processes on the
# machine are left alone). Jobs still in this cluster are cancelled first. Safe to run twice; state is kept.
set -uo pipefail

DIR=$(realpath -m "${1:-${MEDADV_SLURM_DIR:-/tmp/medadv-slurm}}")
export SLURM_CONF=$DIR/etc/slurm.conf

pid_of() {  # pid_of NAME PROGRAM: the recorded pid, if it is alive and runs PROGRAM (not a reused pid)
    local pidfile=$DIR/run/$1.pid pid
    [[ -s $pidfile ]] || return 1
    pid=$(cat "$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$2"* ]] || return 1
    echo "$pid"
}

stop() {  # stop NAME...: SIGTERM to each (NAME is also its program), wait up to 15 s, then SIGKILL
    local name pid
    local -A pids=()
    for name in "$@"; do
        if pid=$(pid_of "$name" "$name"); then
            pids[$name]=$pid
            kill -TERM "$pid" 2>/dev/null
        fi
        rm -f "$DIR/run/$name.pid"
    done
    for _ in $(seq 1 75); do
        for name in "${!pids[@]}"; do
            if ! kill -0 "${pids[$name]}" 2>/dev/null; then
                echo "stop.sh: stopped $name (pid ${pids[$name]})" >&2
                unset "pids[$name]"
            fi
        done
        [[ ${#pids[@]} == 0 ]] && return 0
        sleep 0.2
    done
    for name in "${!pids[@]}"; do
        echo "stop.sh: $name (pid ${pids[$name]}) ignored SIGTERM; killing it" >&2
        kill -KILL "${pids[$name]}" 2>/dev/null
    done
}

if pid_of slurmctld slurmctld >/dev/null && [[ -f $SLURM_CONF ]]; then
    jobs=$(timeout 10 squeue -h -o %i 2>/dev/null | sed 's/_.*//' | sort -u | tr '\n' ' ')
    if [[ -n ${jobs// /} ]]; then
        echo "stop.sh: cancelling jobs $jobs" >&2
        # shellcheck disable=SC2086
        timeout 10 scancel $jobs 2>/dev/null
        for _ in $(seq 1 20); do  # KillWait=5: jobs end within seconds
            [[ -z $(timeout 5 squeue -h -o %i 2>/dev/null) ]] && break
            sleep 1
        done
    fi
fi

stop slurmd slurmctld  # the cluster first (slurmctld saves its state),
stop slurmdbd          # then accounting (it flushes to the database),
stop mariadbd munged   # then what they both used
exit 0
