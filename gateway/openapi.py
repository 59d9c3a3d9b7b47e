"""One OpenAPI document for everything behind the gateway."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi


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
    schemas = own.setdefault("components", {}).setdefault("schemas", {})
    for doc in docs:
        if not doc:
            continue
        for path, item in doc.get("paths", {}).items():
            if path.startswith(("/api/", "/public/", "/liaison/", "/open311/")):
                paths[path] = item
        schemas.update(doc.get("components", {}).get("schemas", {}))
    own.setdefault("components", {})["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    }
    return own
