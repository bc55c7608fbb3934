# Sourced by start.sh and test.sh: a virtualenv with the pinned packages of the requirements file named by
# REQUIREMENTS (requirements.txt unless set), reinstalled only when that file or one it includes changes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
REQUIREMENTS=${REQUIREMENTS:-requirements.txt}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
# One stamp per requirements file: installing the test tools does not make start.sh reinstall, nor the reverse.
stamp=.venv/.${REQUIREMENTS%.txt}.sha256
wanted=$(cat $(printf '%s\n' requirements.txt "$REQUIREMENTS" | sort -u) | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
    echo "$wanted" > "$stamp"
fi
