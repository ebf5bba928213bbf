#!/bin/bash
# `make central`: the province's central backend on this machine, for the demo (README, "Reporting
# to the province"). PostgreSQL from Debian's package runs from $DIR/pg (created once, kept between
# runs; a unix socket in $DIR, no TCP port), then `queue-server central` serves on 127.0.0.1:$PORT
# with config/central-demo.toml. As root the cluster belongs to `nobody` (initdb refuses root).
# Ctrl-C (or SIGTERM) stops the central and the cluster this script started.
set -euo pipefail
DIR=${CENTRAL_DATA:-data-central}
PORT=${PORT:-8090}
PGPORT=${PGPORT:-54329}
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$BIN" ] || { echo "PostgreSQL is missing: run make system" >&2; exit 2; }
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
as=()
if [ "$(id -u)" = 0 ]; then
    chown "$(id -u nobody):$(id -g nobody)" "$DIR"
    as=(setpriv "--reuid=$(id -u nobody)" "--regid=$(id -g nobody)" --clear-groups)
fi
[ -d "$DIR/pg" ] || "${as[@]}" "$BIN/initdb" -D "$DIR/pg" -U postgres --auth=trust -E UTF8 --no-instructions >/dev/null
central=
started=
# Runs on every way out, and must get to pg_ctl stop on each: errexit off (under `set -e` a `kill`
# of a central that already exited, as gunicorn does on the Ctrl-C it gets with this script, ended
# the script here with status 1 and left PostgreSQL running in the session pg_ctl gave it).
stop() {
    set +e
    trap - INT TERM EXIT
    if [ -n "$central" ]; then kill -TERM "$central" 2>/dev/null; wait "$central" 2>/dev/null; fi
    if [ -n "$started" ]; then "${as[@]}" "$BIN/pg_ctl" -D "$DIR/pg" -m fast -w stop >/dev/null 2>&1; fi
    if [ -n "$started" ] && "${as[@]}" "$BIN/pg_ctl" -D "$DIR/pg" status >/dev/null 2>&1; then
        echo "central-demo: PostgreSQL in $DIR/pg did not stop: $BIN/pg_ctl -D $DIR/pg -m fast stop" >&2
        return 1
    fi
}
# Ctrl-C or SIGTERM: a clean stop (status 0) once the central and PostgreSQL are down.
interrupted() {
    stop || exit 1
    echo "central-demo: stopped (PostgreSQL too)" >&2
    exit 0
}
trap interrupted INT TERM
trap stop EXIT
if ! "${as[@]}" "$BIN/pg_ctl" -D "$DIR/pg" status >/dev/null 2>&1; then
    started=1
    "${as[@]}" "$BIN/pg_ctl" -D "$DIR/pg" -o "-k $DIR -p $PGPORT -c listen_addresses=''" \
        -l "$DIR/postgres.log" -w start >/dev/null
else
    echo "central-demo: PostgreSQL in $DIR/pg was already running: left running on exit" >&2
fi
if ! "$BIN/psql" -h "$DIR" -p "$PGPORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'quayso'" | grep -q 1; then
    "$BIN/createdb" -h "$DIR" -p "$PGPORT" -U postgres quayso
fi
echo "central-demo: PostgreSQL in $DIR/pg, central on http://127.0.0.1:$PORT/province (Ctrl-C stops both)"
"${VENV:-.venv}/bin/queue-server" central --database "postgresql://postgres@/quayso?host=$DIR&port=$PGPORT" \
    --centers config/central-demo.toml --host 127.0.0.1 --port "$PORT" &
central=$!
wait "$central"
