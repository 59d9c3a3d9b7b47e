"""One OpenAPI document for everything behind the gateway."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

PROBLEM_SCHEMA = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "field": {"type": "string"}, "reason": {"type": "string"}}}},
    },
}
OPEN311_ERRORS_SCHEMA = {
    "type": "array",
    "items": {"type": "object", "required": ["code", "description"],
              "properties": {"code": {"type": "integer"}, "description": {"type": "string"}}},
}


def _problem_response(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def describe_errors(paths: dict[str, Any]) -> None:
    """States the errors as they are served: problem+json (and the standard's error list under /open311)."""
    for path, item in paths.items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            if path.startswith("/open311/"):
                responses.pop("422", None)
                for code in ("400", "403", "404"):
                    desc = responses.get(code, {}).get("description", "Error")
                    responses[code] = {"description": desc, "content": {
                        "application/json": {"schema": OPEN311_ERRORS_SCHEMA},
                        "application/xml": {"schema": {"type": "string"}}}}
                continue
            if "422" in responses:
                responses["422"] = _problem_response("Validation failed or a rule refused the request")
            for code in ("401", "403", "404", "409", "429"):
                if code in responses and "content" in responses[code] and "application/json" not in responses[code]["content"]:
                    responses[code] = _problem_response(responses[code].get("description", "Error"))
                elif code in responses and "content" not in responses[code]:
                    responses[code] = _problem_response(responses[code].get("description", "Error"))


async def merged_openapi(app: FastAPI) -> dict[str, Any]:
    """Merges the gateway's own document with every reachable service's paths and schemas."""
    own = get_openapi(title="Youmin API", version="1.0.0", routes=app.routes,
                      description="Youmin (由民): residents decide. Everything is served through this gateway.")
    client: httpx.AsyncClient = app.state.http

    async def fetch(url: str) -> dict[str, Any] | None:
        try:
            resp = await client.get(f"{url}/openapi.json", timeout=3)
            return resp.json() if resp.status_code == 200 else None
        except (httpx.HTTPError, ValueError, OSError):
            return None

    docs = await asyncio.gather(*(fetch(u) for u in app.state.settings.service_urls().values()))
    paths = own.setdefault("paths", {})
    components = own.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for doc in docs:
        if not doc:
            continue
        for path, item in doc.get("paths", {}).items():
            if path.startswith(("/api/", "/public/", "/liaison/", "/open311/")):
                paths[path] = item
        schemas.update(doc.get("components", {}).get("schemas", {}))
    schemas["Problem"] = PROBLEM_SCHEMA
    describe_errors(paths)
    components.setdefault("securitySchemes", {}).update({
        "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    })
    for path, item in paths.items():
        if path.startswith("/api/"):
            for operation in item.values():
                if isinstance(operation, dict):
                    operation.setdefault("security", [{"bearer": []}])
    return own
