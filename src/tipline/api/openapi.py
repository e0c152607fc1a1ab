"""The OpenAPI document as clients see it, with Tipline's own error shape written down.

FastAPI documents 422 as request-validation errors only (``detail`` is a list), but a domain
rule broken by a well-formed request (an empty message, a DM with oneself) is also a 422,
answered as ``{"detail": <reason>, "code": <machine code>}``. The document says both, so a
client generated from it (and the schema fuzzer) accepts every answer the server really gives.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from tipline.protocol import frame_schemas

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "properties": {
        "detail": {"type": "string", "title": "Detail", "description": "what was wrong, for people"},
        "code": {"type": "string", "title": "Code", "description": "a stable machine-readable reason"},
    },
    "required": ["detail", "code"],
}


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Error"] = ERROR_SCHEMA
        # The WebSocket protocol's frames (docs/protocol.md): no route carries them, but the web
        # client's frame types are generated from this document with the HTTP ones.
        components.update(frame_schemas())
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                answer = operation.get("responses", {}).get("422")
                if answer is None:
                    continue
                content = answer.setdefault("content", {}).setdefault("application/json", {})
                # A route that documents its own 422 loses FastAPI's validation shape: put it back.
                validation = {"$ref": "#/components/schemas/HTTPValidationError"}
                current = content.get("schema") or validation
                options = [current] if current == validation else [validation, current]
                content["schema"] = {"anyOf": [*options, {"$ref": "#/components/schemas/Error"}]}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
