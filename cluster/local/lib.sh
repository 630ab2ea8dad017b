# shellcheck shell=bash disable=SC2034  # (variables used by up and down)
# Shared by cluster/local/up and cluster/local/down (sourced, not run).
#
# The state dir holds everything a local fleet owns:
#   pids/<order>-<name>   one file per process: "<pid><TAB><text its command line must hold>"
#                         (order: 1 replicas, 2 mock nodes, 3 NATS, 4 PostgreSQL: the order
#                         in which down stops them)
#   logs/                 one log per process (kept by down, unless --clean)
#   nats/, pg/, replica-* NATS's JetStream store, PostgreSQL's data dir, each replica's cwd
#   env                   the fleet's URLs and token, for `source`
#   .lock                 held by up while it starts and by down while it stops

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
STATE=${STATE_DIR:-$here/.state}
case $STATE in /*) ;; *) STATE=$PWD/$STATE ;; esac
PIDS=$STATE/pids
LOGS=$STATE/logs

die() { printf 'error: %s\n' "$*" >&2; exit 1; }
say() { printf '%s\n' "$*"; }

# A path as the user would type it from here.
show_path() { case $1 in "$PWD"/*) printf '%s' "${1#"$PWD"/}" ;; *) printf '%s' "$1" ;; esac; }

# Takes the state dir's lock (fd 9) or fails at once: up and down never run together.
take_lock() {
    mkdir -p "$STATE"
    exec 9>"$STATE/.lock"
    flock -n 9 || die "another cluster/local/up or down is running on $(show_path "$STATE"); wait for it"
}

# ours PID MATCH: true while PID runs and its command line holds MATCH, so a pid the kernel
# has since given to another program is never signalled.
ours() {
    local pid=$1 match=$2 cmdline
    [ -r "/proc/$pid/cmdline" ] || return 1
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [ -n "$cmdline" ] && [[ $cmdline == *"$match"* ]]
}

# read_pidfile FILE: sets pid and match from a pid file.
read_pidfile() {
    pid='' match=''
    IFS=$'\t' read -r pid match <"$1" || true
}

# The live processes recorded in the state dir, one pid file path a line.
live_pidfiles() {
    local f pid match
    for f in "$PIDS"/*; do
        [ -f "$f" ] || continue
        read_pidfile "$f"
        [ -n "$pid" ] && ours "$pid" "$match" && printf '%s\n' "$f"
    done
    return 0
}

# stop_group ORDER SIGNAL SECONDS: signals every live process of that order, waits up to
# SECONDS for them to exit, then kills what is left. Removes their pid files.
stop_group() {
    local order=$1 signal=$2 seconds=$3 f pid match names=() files=() waited=0 left
    for f in "$PIDS/$order"-*; do
        [ -f "$f" ] || continue
        read_pidfile "$f"
        if [ -n "$pid" ] && ours "$pid" "$match"; then
            kill "-$signal" "$pid" 2>/dev/null || true
            names+=("${f##*/"$order"-}")
            files+=("$f")
        else
            rm -f "$f"
        fi
    done
    [ ${#files[@]} -gt 0 ] || return 0
    say "stopping ${names[*]}"
    while :; do
        left=0
        for f in "${files[@]}"; do
            [ -f "$f" ] || continue
            read_pidfile "$f"
            if ours "$pid" "$match"; then left=$((left + 1)); else rm -f "$f"; fi
        done
        [ "$left" -eq 0 ] && return 0
        if [ "$waited" -ge $((seconds * 10)) ]; then
            for f in "${files[@]}"; do
                [ -f "$f" ] || continue
                read_pidfile "$f"
                if ours "$pid" "$match"; then
                    printf 'warning: %s (pid %s) did not stop within %ss: killing it\n' \
                        "${f##*/"$order"-}" "$pid" "$seconds" >&2
                    kill -KILL "$pid" 2>/dev/null || true
                fi
                rm -f "$f"
            done
            return 0
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
}

# Stops everything the state dir records, in order: replicas first (SIGTERM: they stop taking
# connections, finish what is in flight within limits.shutdown_grace, flush their request
# records), then the mock nodes, NATS, and PostgreSQL last (SIGINT: its fast shutdown).
stop_all() {
    stop_group 1 TERM 40
    stop_group 2 TERM 10
    stop_group 3 TERM 15
    stop_group 4 INT 30
}
