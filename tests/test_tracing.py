"""OpenTelemetry tracing: off unless configured; when on, a span per request, without query strings."""

from __future__ import annotations

import secrets

import httpx
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.conftest import make_settings
from tipline.app import build_runtime, create_app
from tipline.tracing import setup_tracing


def _app(**settings: object) -> object:
    rt = build_runtime(make_settings(**settings), database_url="postgresql://localhost/unused", jwt_key=b"k" * 64)
    return create_app(rt)


def _instrumented(app: object) -> bool:
    return bool(getattr(app, "_is_instrumented_by_opentelemetry", False))


def test_off_by_default() -> None:
    app = _app()
    assert not _instrumented(app)
    assert setup_tracing(app, make_settings()) is None  # type: ignore[arg-type]
    assert not _instrumented(app)


def test_on_when_the_endpoint_is_set() -> None:
    app = _app(otel_exporter_otlp_endpoint="http://127.0.0.1:4318")
    assert _instrumented(app)


async def test_spans_by_route_without_query_strings() -> None:
    app = _app()
    exporter = InMemorySpanExporter()
    provider = setup_tracing(app, make_settings(), exporter=exporter)  # type: ignore[arg-type]
    assert provider is not None
    code = secrets.token_urlsafe(16)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(timeout=30, transport=transport, base_url="http://tipline") as client:
        assert (await client.get("/auth/oidc/providers")).status_code == 200
        r = await client.get("/auth/oidc/nobody/callback", params={"state": "s" * 20, "code": code})
        assert r.status_code == 404
    spans = exporter.get_finished_spans()
    names = {s.name for s in spans}
    assert "GET /auth/oidc/providers" in names
    assert "GET /auth/oidc/{provider}/callback" in names
    for span in spans:
        assert code not in str(dict(span.attributes or {}))
    provider.shutdown()
