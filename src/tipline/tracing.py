"""OpenTelemetry tracing, on only when OTEL_EXPORTER_OTLP_ENDPOINT is set (docs/operations.md).

The packages are the optional `otel` extra; without the setting nothing is imported and no
request pays for tracing.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from tipline.config import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger(__name__)

# Span attributes that would carry a query string (OAuth codes and states on the OIDC callback).
_URL_ATTRIBUTES = ("http.url", "http.target", "url.full", "url.query")
# An incoming webhook's URL carries its secret (docs/security.md).
_SECRET_PATH = re.compile(r"^(/hooks/incoming/[^/]+/)[^/]+")


def _strip_query(span: Any, scope: dict[str, Any]) -> None:
    if span is None or not span.is_recording():
        return
    for name in _URL_ATTRIBUTES:
        path = _SECRET_PATH.sub(r"\1[redacted]", scope.get("path", ""))
        span.set_attribute(name, path if name != "url.query" else "")


def setup_tracing(app: FastAPI, settings: Settings, *, exporter: Any = None) -> Any:
    """Instrument ``app`` when tracing is configured (or an exporter is given, as tests do).

    Returns the tracer provider, or None when tracing is off.
    """
    if exporter is None and not settings.otel_exporter_otlp_endpoint:
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except ImportError:
        log.error("OTEL_EXPORTER_OTLP_ENDPOINT is set but the `otel` extra is not installed; tracing is off")
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": settings.otel_service_name}))
    if exporter is None:
        endpoint = settings.otel_exporter_otlp_endpoint or ""
        exporter = OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")
        provider.add_span_processor(BatchSpanProcessor(exporter))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        excluded_urls="/metrics,/healthz,/readyz",
        server_request_hook=_strip_query,
    )
    return provider
