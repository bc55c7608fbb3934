# Sourced by test.sh: a throwaway PostgreSQL for this test run, unless STUDIO_TEST_DATABASE_URL names one.
# Debian's `postgresql` package is installed if missing; the cluster lives in a temporary folder, listens on
# 127.0.0.1 only on a free port, runs as an unprivileged user (PostgreSQL refuses root), and is stopped and
# removed when the test run exits, whatever its result.
if [ -z "${STUDIO_TEST_DATABASE_URL:-}" ]; then
    pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
        SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql > /dev/null
        pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    fi
    pg_dir=$(mktemp -d /tmp/cue-test-pg.XXXXXX)
    as_pg=()
    if [ "$(id -u)" = 0 ]; then
        pg_user=$(id -u postgres >/dev/null 2>&1 && echo postgres || echo nobody)
        chown "$pg_user" "$pg_dir"
        # from inside the cluster's folder: the checkout may be a folder that user cannot enter
        as_pg=(env -C "$pg_dir" setpriv --reuid="$pg_user" --regid="$(id -g "$pg_user")" --clear-groups)
    fi
    pg_port=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    stop_postgres() {
        "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop > /dev/null 2>&1 || true
        rm -rf "$pg_dir"
    }
    trap stop_postgres EXIT
    "${as_pg[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U studio --auth=trust -E UTF8 --no-sync > "$pg_dir/initdb.log"
    # fsync off: a test database need not survive a power cut, and the tests run faster without it
    "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -o \
        "-c listen_addresses=127.0.0.1 -p $pg_port -k $pg_dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
        start > /dev/null
    "${as_pg[@]}" "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U studio studio_test
    export STUDIO_TEST_DATABASE_URL="postgresql://studio@127.0.0.1:$pg_port/studio_test"
fi
