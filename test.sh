#!/usr/bin/env bash
# Run every test, browser tests included. Installs what it needs first (virtualenv, packages, Chromium).
set -euo pipefail
source "$(dirname "$0")/scripts/setup.sh"
if [ ! -x /usr/bin/chromium ]; then
    SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium > /dev/null
fi
exec .venv/bin/python -m pytest "$@"
