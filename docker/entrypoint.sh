#!/bin/sh
# Tipline's container entrypoint.
#
#   entrypoint.sh serve      run the server (`tipline serve`)
#   entrypoint.sh migrate    apply database migrations and exit
#   entrypoint.sh all        migrate, then serve (one container, e.g. compose.yaml)
#   entrypoint.sh watcher    the chain watcher
#   entrypoint.sh <other>    any other `tipline` subcommand, or an absolute path to run as is
#
# DATABASE_URL and REDIS_URL may be given whole, or assembled here from parts that an orchestrator
# injects one secret at a time (ECS: DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD; REDIS_HOST,
# REDIS_PORT, REDIS_AUTH_TOKEN, REDIS_TLS). Passwords are URL-encoded, and no URL with a password
# is ever printed.
set -eu

urlencode() {
    python -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"
}

if [ -z "${DATABASE_URL:-}" ] && [ -n "${DB_HOST:-}" ]; then
    DATABASE_URL="postgresql://$(urlencode "${DB_USER:?DB_USER is required with DB_HOST}"):$(urlencode "${DB_PASSWORD:?DB_PASSWORD is required with DB_HOST}")@${DB_HOST}:${DB_PORT:-5432}/${DB_NAME:-tipline}"
    export DATABASE_URL
fi

if [ -z "${REDIS_URL:-}" ] && [ -n "${REDIS_HOST:-}" ]; then
    scheme=redis
    case "${REDIS_TLS:-false}" in true | 1 | yes) scheme=rediss ;; esac
    auth=""
    if [ -n "${REDIS_AUTH_TOKEN:-}" ]; then
        auth=":$(urlencode "$REDIS_AUTH_TOKEN")@"
    fi
    REDIS_URL="${scheme}://${auth}${REDIS_HOST}:${REDIS_PORT:-6379}/0"
    export REDIS_URL
fi

command="${1:-serve}"
[ "$#" -gt 0 ] && shift

case "$command" in
    all)
        tipline migrate
        exec tipline serve "$@"
        ;;
    /*)
        exec "$command" "$@"
        ;;
    *)
        exec tipline "$command" "$@"
        ;;
esac
