#!/usr/bin/env bash
# Start Cue Studio. With no vendor keys configured it runs in demo mode against the built-in simulator.
set -euo pipefail
source "$(dirname "$0")/scripts/setup.sh"
exec .venv/bin/python -m streamlit run streamlit_app.py "$@"
