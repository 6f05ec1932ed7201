#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster on loopback for the benchmarks: initdb in a temporary
# directory, pg_ctl start on 127.0.0.1 and a free port, trust authentication for the user
# `postgres`, then stop and remove. Nothing assumes (or touches) a system service.
#
#   Scripts/pg-throwaway.sh start            # prints PGHOST=… PGPORT=… PGUSER=… PGDATABASE=… PGTHROWAWAY=DIR
#   Scripts/pg-throwaway.sh stop DIR         # stops the cluster started in DIR and removes DIR
#   Scripts/pg-throwaway.sh run -- CMD …     # start, run CMD with PGHOST/PGPORT/PGUSER/PGDATABASE set,
#                                            # always stop and remove (trap), exit with CMD's status
#
# Installs Debian's postgresql-15 if its binaries are missing. initdb refuses to run as root, so
# as root the cluster runs as the `postgres` system user (created by the package) or `nobody`,
# owning the temporary directory.
#
# Settings (appended to the cluster's postgresql.conf) are a bench configuration that keeps
# durability: fsync, synchronous_commit and full_page_writes stay on; memory sized for this
# 24 GiB machine; WAL large enough that no checkpoint is forced by size during a load;
# wal_level=minimal (no replication, as Sinter has none).
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)

log() { echo "pg-throwaway: $*" >&2; }

ensure_binaries() {
    if [ ! -x "$PG_BIN/initdb" ] || [ ! -x "$PG_BIN/pg_ctl" ]; then
        log "installing postgresql-15 (Debian)"
        $SUDO apt-get update -qq
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null
    fi
    [ -x "$PG_BIN/initdb" ] || { log "no initdb in $PG_BIN (set PG_BIN)"; exit 1; }
}

# The OS user the server runs as: ourselves unless root.
os_user() {
    if [ "$(id -u)" != 0 ]; then id -un
    elif id postgres >/dev/null 2>&1; then echo postgres
    else echo nobody
    fi
}

as_user() {
    local user=$1; shift
    if [ "$(id -un)" = "$user" ]; then "$@"; else runuser -u "$user" -- "$@"; fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
    ensure_binaries
    local dir user port
    dir=$(mktemp -d "${TMPDIR:-/tmp}/sinter-pg.XXXXXX")
    user=$(os_user)
    chown "$user" "$dir" 2>/dev/null || true
    chmod 700 "$dir"
    as_user "$user" "$PG_BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 || {
        log "initdb failed:"; cat "$dir/initdb.log" >&2; rm -rf "$dir"; exit 1; }
    port=$(free_port)
    cat >>"$dir/data/postgresql.conf" <<EOF

# sinter-bench: loopback only, a free port, socket in the temporary directory
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
# durability as shipped (each commit's WAL flushed before it returns)
fsync = on
synchronous_commit = on
full_page_writes = on
# memory for a 24 GiB machine, no size-forced checkpoints during a load
shared_buffers = 2GB
wal_buffers = 64MB
effective_cache_size = 12GB
maintenance_work_mem = 512MB
work_mem = 64MB
max_wal_size = 16GB
checkpoint_timeout = 30min
wal_level = minimal
max_wal_senders = 0
EOF
    if ! as_user "$user" "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null; then
        log "pg_ctl start failed:"; tail -20 "$dir/server.log" >&2 || true
        rm -rf "$dir"; exit 1
    fi
    echo "$user" >"$dir/os-user"
    log "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on postgresql://postgres@127.0.0.1:$port/postgres (data in $dir)"
    echo "PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres PGDATABASE=postgres PGTHROWAWAY=$dir"
}

stop() {
    local dir=${1:?usage: pg-throwaway.sh stop DIR}
    case "$dir" in */sinter-pg.*) ;; *) log "refusing to remove $dir (not a pg-throwaway directory)"; exit 1 ;; esac
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_user "$(cat "$dir/os-user" 2>/dev/null || os_user)" "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null ||
            log "pg_ctl stop failed (removing anyway)"
    fi
    rm -rf "$dir"
    log "stopped and removed $dir"
}

run() {
    [ "${1:-}" = "--" ] && shift
    [ $# -gt 0 ] || { log "usage: pg-throwaway.sh run -- CMD [ARGS…]"; exit 2; }
    local line
    line=$(start)
    eval "export $line"
    trap 'stop "$PGTHROWAWAY"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    "$@"
}

case "${1:-}" in
    start) start ;;
    stop) shift; stop "$@" ;;
    run) shift; run "$@" ;;
    *) echo "usage: $0 start | stop DIR | run -- CMD [ARGS…]" >&2; exit 2 ;;
esac
