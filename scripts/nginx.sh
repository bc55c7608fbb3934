# Sourced by test.sh: Debian's `nginx` for the replica tests (tests/e2e/test_replicas.py), installed if missing.
# Nothing is started here, and the package's own service (port 80, for the whole machine) is stopped and
# disabled right after installing: each test writes its own nginx.conf in a temporary folder and runs nginx as
# its child process on a free loopback port (tests/e2e/conftest.py, start_nginx).
if [ ! -x /usr/sbin/nginx ]; then
    SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nginx > /dev/null
    if command -v systemctl > /dev/null && systemctl is-system-running > /dev/null 2>&1; then
        $SUDO systemctl disable --now nginx > /dev/null 2>&1 || true
    else
        $SUDO service nginx stop > /dev/null 2>&1 || true
    fi
fi
