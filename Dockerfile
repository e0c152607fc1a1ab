# syntax=docker/dockerfile:1
# Tipline's image: the web client built with Node, then the server on a slim Python image.
#   docker build -t tipline .
#   docker run -e DATABASE_URL=... -e JWT_SECRET=... -p 8000:8000 tipline        (serve)
#   docker run ... tipline migrate | all | watcher                                 (see docker/entrypoint.sh)

# --- 1. the web client --------------------------------------------------------------------------
FROM node:20.20-bookworm-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

# --- 2. Python dependencies, from the lock file ---------------------------------------------------
FROM python:3.11.14-slim-bookworm AS build
# The same uv as scripts/lib.sh (UV_VERSION), from PyPI.
RUN pip install --no-cache-dir uv==0.13.8
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/tipline
WORKDIR /src
# Dependencies first (a layer that changes only with uv.lock), then the project itself.
COPY pyproject.toml uv.lock README.md ./
# The Python client is a workspace member (dev group only): uv reads its metadata to check the lock.
COPY clients/python/pyproject.toml clients/python/README.md clients/python/
RUN uv sync --locked --no-dev --no-install-project
COPY src/ src/
COPY migrations/ migrations/
RUN uv sync --locked --no-dev --no-editable

# --- 3. the runtime image -------------------------------------------------------------------------
FROM python:3.11.14-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 tipline \
    && useradd --system --uid 10001 --gid tipline --home-dir /home/tipline --create-home tipline
COPY --from=build /opt/tipline /opt/tipline
COPY --from=web /src/web/dist /srv/web
COPY docker/entrypoint.sh /usr/local/bin/tipline-entrypoint
ENV PATH=/opt/tipline/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    WEB_DIST=/srv/web \
    DATA_DIR=/home/tipline/data \
    LOG_FORMAT=json
USER 10001:10001
WORKDIR /home/tipline
EXPOSE 8000
# /readyz: not shutting down, the database answers, the bus is connected.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('PORT', '8000'), timeout=4)"]
ENTRYPOINT ["tipline-entrypoint"]
CMD ["serve"]
