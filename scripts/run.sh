#!/usr/bin/env bash
# Install what Tipline needs, build the web client, and run Tipline on the embedded defaults
# at http://127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_uv
"${UV[@]}" sync --locked
ensure_web_deps
ensure_contracts
(cd web && npm run build)
exec "${UV[@]}" run tipline dev
