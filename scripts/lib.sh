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

# `npm ci` in a folder, again only when its package-lock.json changed.
npm_ci_when_lock_changed() {
  local stamp=$1/node_modules/.tipline-lock.sha256
  local want
  want=$(sha256sum "$1/package-lock.json" | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    (cd "$1" && npm ci --no-audit --no-fund)
    echo "$want" > "$stamp"
  fi
}

# Install the web client's locked dependencies.
ensure_web_deps() {
  npm_ci_when_lock_changed web
}

# The web client's build inputs, hashed by content (paths and bytes, not times): its sources,
# public files, build plugins, index.html, the Vite and TypeScript configs, package.json and the
# lock. Prints one sha256.
web_sources_hash() {
  (
    cd "$1" || exit 1
    local inputs=() path
    for path in src public build index.html vite.config.ts tsconfig.json package.json package-lock.json; do
      [ -e "$path" ] && inputs+=("$path")
    done
    find "${inputs[@]}" -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum | sha256sum | cut -d' ' -f1
  )
}

# Whether the web client needs building: no build yet, or its inputs changed since the last one
# (the hash of web_sources_hash is kept beside the build output, in dist/.tipline-sources.sha256).
# Exit status 0: build; 1: the build is current.
web_build_needed() {
  local dir=$1
  local stamp=$dir/dist/.tipline-sources.sha256
  [ -f "$dir/dist/index.html" ] && [ -f "$stamp" ] || return 0
  [ "$(cat "$stamp")" != "$(web_sources_hash "$dir")" ]
}

# Build the web client only when web_build_needed says so, then remember what it was built from.
build_web_when_changed() {
  local dir=${1:-web}
  if web_build_needed "$dir"; then
    local want
    want=$(web_sources_hash "$dir")
    (cd "$dir" && npm run build)
    echo "$want" > "$dir/dist/.tipline-sources.sha256"
  else
    echo "web client unchanged since its last build: not rebuilding ($dir/dist)"
  fi
}

# Debian's Chromium for the browser tests (never a downloaded browser build).
ensure_chromium() {
  # Noto Color Emoji: without an emoji font Chromium draws emoji (picker, reactions) as boxes.
  if ! command -v chromium >/dev/null 2>&1 || ! dpkg -s fonts-noto-color-emoji >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null
    else
      sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null
    fi
  fi
}

# The test-only OpenID Connect provider (npm oidc-provider) used by tests/oidc (again only when its lock changed).
ensure_oidc_provider() {
  local dir=tests/oidc/provider
  local stamp=$dir/node_modules/.tipline-lock.sha256
  local want
  want=$(sha256sum $dir/package-lock.json | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    (cd $dir && npm ci --no-audit --no-fund)
    echo "$want" > "$stamp"
  fi
}

# The contract toolchain (solc-js and anvil from npm) and the contract build, which rewrites
# src/tipline/chain/artifacts/ only when a Solidity source changed.
ensure_contracts() {
  npm_ci_when_lock_changed contracts
  node contracts/build.mjs
}

# Debian's HAProxy, the load balancer in front of `tipline cluster` nodes.
ensure_haproxy() {
  if ! command -v haproxy >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null
    else
      sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null
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
