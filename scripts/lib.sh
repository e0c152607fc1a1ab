# Shared by scripts/run.sh and scripts/test.sh: find or install uv (pinned), no PATH changes needed.
UV_VERSION=0.13.8
ensure_uv() {
  if command -v uv >/dev/null 2>&1; then
    UV=(uv)
  else
    if ! python3 -m uv --version >/dev/null 2>&1; then
      python3 -m pip install --quiet --disable-pip-version-check "uv==${UV_VERSION}"
    fi
    UV=(python3 -m uv)
  fi
  export UV_PYTHON="${UV_PYTHON:-python3.11}"
}

# Install the web client's locked dependencies (again only when package-lock.json changed).
ensure_web_deps() {
  local stamp=web/node_modules/.tipline-lock.sha256
  local want
  want=$(sha256sum web/package-lock.json | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    (cd web && npm ci --no-audit --no-fund)
    echo "$want" > "$stamp"
  fi
}

# Debian's Chromium for the browser tests (never a downloaded browser build).
ensure_chromium() {
  if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
      sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    fi
  fi
}

# Linters of the infrastructure and container tests (tests/infra, tests/docker), under .cache/ (ignored
# by git): checkov in a uv tool environment of its own, because its dependency pins conflict with
# Tipline's (in one environment uv can only resolve a checkov from 2023), and dclint (compose.yaml)
# from npm. cfn-lint and hadolint come with the `infra` dependency group.
CHECKOV_VERSION=3.3.30
DCLINT_VERSION=3.1.0
ensure_infra_tools() {
  local tools="$PWD/.cache/uv-tools"
  if [ ! -x "$tools/bin/checkov" ] || ! grep -q "specifier = \"==${CHECKOV_VERSION}\"" "$tools/checkov/uv-receipt.toml" 2>/dev/null; then
    UV_TOOL_DIR="$tools" UV_TOOL_BIN_DIR="$tools/bin" "${UV[@]}" tool install --quiet --force --python 3.11 \
      "checkov==${CHECKOV_VERSION}"
  fi
  local npm_tools=.cache/npm-tools
  if ! grep -q "\"version\": \"${DCLINT_VERSION}\"" "$npm_tools/node_modules/dclint/package.json" 2>/dev/null; then
    mkdir -p "$npm_tools"
    npm install --prefix "$npm_tools" --no-audit --no-fund --silent "dclint@${DCLINT_VERSION}"
  fi
}
