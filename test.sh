#!/usr/bin/env bash
# Run every test, browser tests included. Installs what it needs first (virtualenv, packages, Chromium,
# PostgreSQL, nginx) and starts a throwaway PostgreSQL for the run (scripts/postgres.sh); nginx is started by
# the tests that need it (scripts/nginx.sh).
set -euo pipefail
REQUIREMENTS=requirements-test.txt source "$(dirname "$0")/scripts/setup.sh"
if [ ! -x /usr/bin/chromium ]; then
    SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium > /dev/null
fi
source scripts/postgres.sh
source scripts/nginx.sh
.venv/bin/python -m pytest "$@"
