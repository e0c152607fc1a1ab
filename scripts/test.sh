#!/usr/bin/env bash
# Install everything and run the whole test suite: lint and types, the web client's unit
# tests and build, then pytest against real PostgreSQL and Redis (TEST_DATABASE_ADMIN_URL,
# TEST_REDIS_URL; defaults are the local servers, and the suite makes and drops a database
# of its own), including the browser tests in Debian's Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_uv
"${UV[@]}" sync --locked --group infra
ensure_infra_tools
ensure_chromium
ensure_web_deps
ensure_oidc_provider
ensure_contracts
ensure_haproxy
echo "== ruff"
"${UV[@]}" run ruff check src tests bench migrations scripts infra clients examples
"${UV[@]}" run ruff format --check src tests bench migrations scripts infra clients examples
echo "== mypy --strict"
"${UV[@]}" run mypy
# The Python client (its own config: clients/python/pyproject.toml) and the example bots.
(cd clients/python && "${UV[@]}" run mypy)
"${UV[@]}" run mypy --strict examples
echo "== import layers (pyproject.toml: tool.importlinter)"
"${UV[@]}" run lint-imports
echo "== web: lint (React hooks rules), typecheck, unit tests, build"
(cd web && npm run lint && npm test && npm run build)
echo "== pytest"
"${UV[@]}" run pytest -q "$@"
