#!/usr/bin/env bash
# One command for a newcomer: set up, then run the demo (SQLite, simulator traffic, web page).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/cti demo "$@"
