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

# A real local Ethereum node (anvil, from npm's @foundry-rs/anvil: a static binary inside the
# package, nothing downloaded at run time) in .cache/anvil; sets ANVIL to its path.
ANVIL_VERSION=1.7.1
ensure_anvil() {
  local dir=.cache/anvil
  if [ ! -x "$dir/node_modules/.bin/anvil" ] || [ "$(cat "$dir/.version" 2>/dev/null)" != "$ANVIL_VERSION" ]; then
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --no-save --silent "@foundry-rs/anvil@${ANVIL_VERSION}" >&2
    echo "$ANVIL_VERSION" > "$dir/.version"
  fi
  # The platform package's native binary, not the Node wrapper: a signal then reaches anvil itself.
  local native
  native=$(ls "$dir"/node_modules/@foundry-rs/anvil-*/bin/anvil 2>/dev/null | head -n1)
  ANVIL="$(cd "$dir" && pwd)/${native#"$dir"/}"
  [ -n "$native" ] || ANVIL="$(cd "$dir" && pwd)/node_modules/.bin/anvil"
  export ANVIL
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
