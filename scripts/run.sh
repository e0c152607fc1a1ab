#!/usr/bin/env bash
# Install what Tipline needs, build the web client (only when its sources changed), and run
# Tipline on the embedded defaults at http://127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_uv
"${UV[@]}" sync --locked
ensure_web_deps
ensure_contracts
build_web_when_changed web
# The environment's own `tipline`, not `uv run`: uv passes a Ctrl-C on to its child, which
# then sees two and skips the graceful shutdown.
exec "${UV_PROJECT_ENVIRONMENT:-.venv}/bin/tipline" dev
