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
