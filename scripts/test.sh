#!/usr/bin/env bash
# Install everything and run the whole test suite: lint, types, then pytest against real
# PostgreSQL (TEST_DATABASE_ADMIN_URL, default the local server; the suite makes and drops
# a database of its own).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_uv
"${UV[@]}" sync --locked
echo "== ruff"
"${UV[@]}" run ruff check src tests bench migrations
"${UV[@]}" run ruff format --check src tests bench migrations
echo "== mypy --strict"
"${UV[@]}" run mypy
echo "== pytest"
"${UV[@]}" run pytest -q "$@"
