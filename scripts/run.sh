#!/usr/bin/env bash
# Install what Tipline needs and run it on the embedded defaults at http://127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_uv
"${UV[@]}" sync --locked
exec "${UV[@]}" run tipline dev
