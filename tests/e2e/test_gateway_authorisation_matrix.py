"""Every /api/v1 route × role × scope (inside, outside, above): no route leaks across scopes; services refuse
requests that bypass the gateway with a forged, expired or missing token."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import timedelta

import httpx
import jwt

from services.registry.rules.roles import Role
from youmin.kit.auth import Grant, mint_token

TARGET = "370705001101"  # the unit every request asks about: a community of street 370705001
OUTSIDE = "370705002101"  # a community of another street
ABOVE_CALLER = TARGET + "001"  # a grid inside the target: the target is above the caller's scope
# One role of each kind and level (the full list is services/registry/rules/roles.py; the rest behave like these).
ROLES = [Role.RESIDENT, Role.GRID_MANAGER, Role.BUILDING_HEAD, Role.COMMUNITY_STAFF, Role.STREET_STAFF,
         Role.DISTRICT_STAFF, Role.MEDIATOR, Role.DEPARTMENT_LIAISON, Role.ADMIN]
CODE_PARAM = re.compile(r"(code|scope|unit)", re.I)


def _value(name: str, schema: dict) -> object:
    """A plausible value for a parameter or field: the target unit for anything code-like, else by type."""
    if CODE_PARAM.search(name):
        return TARGET
    kind = schema.get("type") or next((s.get("type") for s in schema.get("anyOf", []) if s.get("type") != "null"), "string")
    if schema.get("format") == "uuid" or name.endswith("_id"):
        return str(uuid.uuid4())
    return {"integer": 1, "number": 1.0, "boolean": False, "array": [], "object": {}}.get(kind, "x")


def _body(schema: dict, components: dict) -> dict | None:
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    if schema.get("type") != "object" and "properties" not in schema:
        return None
    return {name: _value(name, prop) for name, prop in schema.get("properties", {}).items()
            if name in schema.get("required", []) or CODE_PARAM.search(name)}


def requests_of(doc: dict) -> list[tuple[str, str, dict, dict | None]]:
    """Builds one request per /api/v1 operation, aimed at TARGET wherever the route takes a unit."""
    components = doc.get("components", {}).get("schemas", {})
    out = []
    for path, item in doc["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            url, params = path, {}
            for p in op.get("parameters", []):
                value = _value(p["name"], p.get("schema", {}))
                if p["in"] == "path":
                    url = url.replace("{" + p["name"] + "}", str(value))
                elif p["in"] == "query" and (p.get("required") or CODE_PARAM.search(p["name"])):
                    params[p["name"]] = value
            schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            out.append((method.upper(), url, params, _body(schema, components) if schema else None))
    return out


async def _send(client: httpx.AsyncClient, method: str, url: str, params: dict, body: dict | None,
                token: str) -> httpx.Response:
    while True:
        resp = await client.request(method, url, params=params, json=body, headers={"authorization": f"Bearer {token}"})
        if resp.status_code != 429:
            return resp
        # Honour the gateway's own rate limit (this test sends thousands of requests).
        await asyncio.sleep(float(resp.headers.get("retry-after", "1")))


async def test_no_route_answers_an_outside_or_lower_scope_caller_with_the_targets_data(stack):
    async with stack.client() as client:
        doc = (await client.get("/openapi.json")).json()
        operations = requests_of(doc)
        assert len(operations) > 20, "the aggregated OpenAPI lists too few /api/v1 routes"
        leaks, errors = [], []
        semaphore = asyncio.Semaphore(8)

        async def check(role: str, where: str, scope: str, op: tuple) -> None:
            method, url, params, body = op
            token = stack.token(str(role), scope, sub=f"matrix-{role}-{where}")
            async with semaphore:
                resp = await _send(client, method, url, params, body, token)
            if resp.status_code >= 500:
                errors.append(f"{role}@{where} {method} {url} -> {resp.status_code}")
            elif resp.is_success and TARGET in resp.text:
                leaks.append(f"{role}@{where} {method} {url} -> {resp.status_code}: {resp.text[:200]}")
            elif resp.is_success and method != "GET":
                leaks.append(f"{role}@{where} {method} {url} -> {resp.status_code} (changed something outside its scope)")

        await asyncio.gather(*(check(role, where, scope, op) for op in operations for role in ROLES
                               for where, scope in (("outside", OUTSIDE), ("above", ABOVE_CALLER))))
    assert not errors, "server errors:\n" + "\n".join(errors)
    assert not leaks, "scope leaks:\n" + "\n".join(leaks)


async def test_inside_callers_are_not_refused_by_the_gateway_itself(stack):
    """The gateway only checks the token; the matrix above is meaningful because inside callers get through."""
    async with stack.client() as client:
        token = stack.token("community_staff", TARGET)
        resp = await client.get(f"/api/v1/registry/units/{TARGET}", headers={"authorization": f"Bearer {token}"})
    assert resp.status_code not in (401, 403)


async def test_services_refuse_requests_that_bypass_the_gateway(stack):
    settings = stack.settings
    forged = jwt.encode({"sub": "mallory", "iss": settings.jwt_issuer, "kind": "user", "exp": 4102444800,
                         "grants": [{"role": "admin", "scope": "3707"}]}, "not-the-signing-key", algorithm="HS256")
    expired = mint_token(settings, "late", [Grant(role="admin", scope="3707")], minutes=-1)
    none_alg = jwt.encode({"sub": "mallory", "iss": settings.jwt_issuer, "kind": "user", "exp": 4102444800,
                           "grants": [{"role": "admin", "scope": "3707"}]}, None, algorithm="none")
    async with stack.client() as gw:
        doc = (await gw.get("/openapi.json")).json()
    operations = requests_of(doc)
    accepted = []
    for service, base in stack.service_urls.items():
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            for method, url, params, body in operations:
                if not url.startswith(f"/api/v1/{service}"):
                    continue
                for label, headers in (("missing", {}), ("forged", {"authorization": f"Bearer {forged}"}),
                                       ("expired", {"authorization": f"Bearer {expired}"}),
                                       ("alg-none", {"authorization": f"Bearer {none_alg}"})):
                    resp = await client.request(method, url, params=params, json=body, headers=headers)
                    if resp.status_code not in (401, 403, 404, 405, 422) or resp.is_success:
                        accepted.append(f"{service} {label} {method} {url} -> {resp.status_code}")
                    elif resp.status_code != 401 and label != "missing" and resp.status_code not in (404, 405, 422):
                        accepted.append(f"{service} {label} {method} {url} -> {resp.status_code} (expected 401)")
    assert not accepted, "requests bypassing the gateway were not refused:\n" + "\n".join(accepted)
