"""The authorisation matrix through the gateway.

- Real objects of every service sit at a target household's units; each role, held inside its scope (at its level
  on the path to that household) and outside it (the same level elsewhere), reads and writes them: inside, the role
  is let through where it may act and refused where it may not; outside, it is always refused.
- Every /api/v1 route is swept with every role from outside and from below the target: nothing leaks or changes.
- Services refuse requests that bypass the gateway with a forged, expired or missing token.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import jwt
import pytest

from services.registry.rules.roles import Role
from youmin.kit.auth import Grant, mint_token

from .test_gateway_liaison_feed import client_of
from .test_gateway_open311 import new_community

TARGET = "370705001101"  # the unit every request asks about: a community of street 370705001
OUTSIDE = "370705002101"  # a community of another street
ABOVE_CALLER = TARGET + "001"  # a grid inside the target: the target is above the caller's scope
ROLES = list(Role)  # every role of services/registry/rules/roles.py
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


# Aggregates with nothing personal, for the public board: they answer without a token (and are tested so).
ANSWERS_ANYONE = {("GET", "/api/v1/mediation/statistics")}


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
                if not url.startswith(f"/api/v1/{service}") or (method, url) in ANSWERS_ANYONE:
                    continue
                for label, headers in (("missing", {}), ("forged", {"authorization": f"Bearer {forged}"}),
                                       ("expired", {"authorization": f"Bearer {expired}"}),
                                       ("alg-none", {"authorization": f"Bearer {none_alg}"})):
                    resp = await client.request(method, url, params=params, json=body, headers=headers)
                    # The token is checked before anything else (the ids are random and the bodies minimal, so a
                    # 404 or 422 would mean the route looked past a bad token).
                    if resp.status_code != 401:
                        accepted.append(f"{service} {label} {method} {url} -> {resp.status_code} (expected 401)")
    assert not accepted, "requests bypassing the gateway were not refused:\n" + "\n".join(accepted)


# ---- the seeded matrix ----------------------------------------------------------------------

# The level each role is held at: one its scope may sit at (services/registry/rules/roles.py ROLE_SCOPE_LEVELS).
LEVEL_OF = {
    Role.GRID_SECRETARY: "grid", Role.GRID_MANAGER: "grid", Role.GRID_HEAD: "grid", Role.BUILDING_HEAD: "building",
    Role.UNIT_HEAD: "unit", Role.RESIDENT_REPRESENTATIVE: "grid", Role.PARTY_MEMBER: "building",
    Role.PART_TIME_MEMBER: "community", Role.COMMUNITY_WORKER: "community", Role.MEDIATOR: "community",
    Role.LEGAL_ADVISER: "community", Role.DEPARTMENT_LIAISON: "community", Role.COMMUNITY_STAFF: "community",
    Role.STREET_STAFF: "street", Role.DISTRICT_STAFF: "district", Role.RESIDENT: "household", Role.ADMIN: "district",
}

# Who may act, spelt out here rather than imported, so that a service widening or narrowing a rule fails the test.
EVERYONE = frozenset(Role)
STAFF_ABOVE_COMMUNITY = frozenset({Role.STREET_STAFF, Role.DISTRICT_STAFF, Role.ADMIN})
GRID_STAFF = frozenset({Role.GRID_SECRETARY, Role.GRID_MANAGER, Role.GRID_HEAD})
# Registry: staff change the tree and see households; building and unit heads also see their own households.
REGISTRY_WRITERS = STAFF_ABOVE_COMMUNITY | GRID_STAFF | {Role.COMMUNITY_STAFF, Role.COMMUNITY_WORKER}
HOUSEHOLD_READERS = REGISTRY_WRITERS | {Role.BUILDING_HEAD, Role.UNIT_HEAD}
# Matters: field staff record matters raised face to face; residents raise their own household's.
MATTER_RAISERS = HOUSEHOLD_READERS | {Role.RESIDENT}
# Mediation: supervisors see a case's file; supervisors and mediators take disputes in.
CASE_SUPERVISORS = STAFF_ABOVE_COMMUNITY | GRID_STAFF | {Role.COMMUNITY_STAFF}
CASE_INTAKE = CASE_SUPERVISORS | {Role.MEDIATOR}
# Disclosure: community and higher staff (and the grid's party secretary) publish and read the staff view.
DISCLOSURE_STAFF = STAFF_ABOVE_COMMUNITY | {Role.COMMUNITY_STAFF, Role.COMMUNITY_WORKER, Role.GRID_SECRETARY}


def path_to(community: str) -> dict[str, str]:
    """The codes of every level on the path from the district down to the community's first household."""
    grid = community + "001"
    building = grid + "001"
    unit = building + "01"
    return {"district": community[:6], "street": community[:9], "community": community, "grid": grid,
            "building": building, "unit": unit, "household": unit + "0001"}


@dataclass
class Seeded:
    """The target's units and the objects placed there, and the same levels outside."""

    inside: dict[str, str]
    outside: dict[str, str]
    matter_id: str
    case_id: str
    item_id: str


def _matter(seeded: Seeded, role: Role, sub: str) -> dict:
    return {"title": f"楼道灯不亮（{role}）", "description": "三楼楼道灯坏了一周", "category": "property_management",
            "unit_code": seeded.inside["unit"]}


def _case(seeded: Seeded, role: Role, sub: str) -> dict:
    # A resident applies as the applicant; staff and mediators take in two parties' dispute.
    applicant = {"person_id": sub} if role is Role.RESIDENT else {"outside": {"full_name": "张三"}}
    return {"place_code": seeded.inside["unit"], "dispute_type": "neighbour", "description": "楼上漏水到楼下",
            "parties": [applicant, {"outside": {"full_name": "李四"}, "role": "respondent"}]}


def _item(seeded: Seeded, role: Role, sub: str) -> dict:
    return {"unit_code": seeded.inside["grid"], "kind": "residents", "category": "notice", "title": f"停水通知（{role}）",
            "body": "周三上午九点至十二点停水检修"}


@dataclass(frozen=True)
class Route:
    """A request at the seeded objects, who may make it, and how an inside caller who may not is refused."""

    method: str
    path: str  # formatted with the Seeded fields and `household`
    allowed: frozenset[Role]
    refused: int = 403  # 404 where the service hides what exists from those who may not see it
    body: Callable[[Seeded, Role, str], dict] | None = None  # (the objects, the caller's role, their person id)

    def url(self, seeded: Seeded) -> str:
        return self.path.format(household=seeded.inside["household"], matter_id=seeded.matter_id,
                                case_id=seeded.case_id, item_id=seeded.item_id)


ROUTES: dict[str, list[Route]] = {
    "registry": [
        Route("GET", "/api/v1/registry/units/{household}", EVERYONE),
        Route("GET", "/api/v1/registry/units/{household}/households", HOUSEHOLD_READERS),
        Route("PATCH", "/api/v1/registry/units/{household}", REGISTRY_WRITERS,
              body=lambda seeded, role, sub: {"name": f"{role} 改名"}),
    ],
    "matters": [
        Route("GET", "/api/v1/matters/{matter_id}", EVERYONE, refused=404),
        Route("POST", "/api/v1/matters/", MATTER_RAISERS, body=_matter),
    ],
    "mediation": [
        Route("GET", "/api/v1/mediation/cases/{case_id}", CASE_SUPERVISORS, refused=404),
        Route("POST", "/api/v1/mediation/cases", CASE_INTAKE | {Role.RESIDENT}, body=_case),
    ],
    "disclosure": [
        Route("GET", "/api/v1/disclosure/items/{item_id}", DISCLOSURE_STAFF),
        Route("POST", "/api/v1/disclosure/items", DISCLOSURE_STAFF, body=_item),
        # Residents and staff related to the item's unit (above or below it) may question it.
        Route("POST", "/api/v1/disclosure/items/{item_id}/questions", EVERYONE,
              body=lambda seeded, role, sub: {"body": "停水期间能否送水上门？"}),
    ],
}


def outside_path(community: str) -> dict[str, str]:
    """The same levels in another district, another street and another community."""
    other = path_to(f"370705002{community[-3:]}")
    return {**other, "district": "370702"}


@pytest.fixture(scope="module")
async def seeded(stack) -> Seeded:
    """Creates the target's units in the registry and a matter, a mediation case and a disclosure item there."""
    inside = path_to(await new_community(stack))
    admin = stack.token(Role.ADMIN, inside["district"], sub="matrix-seeder")
    async with client_of(stack, admin) as client:
        for level, parent in (("grid", "community"), ("building", "grid"), ("unit", "building"), ("household", "unit")):
            made = await client.post("/api/v1/registry/units", json={
                "code": inside[level], "parent_code": inside[parent], "name": f"矩阵{level}"})
            assert made.status_code == 201, made.text
    target = Seeded(inside=inside, outside=outside_path(inside["community"]), matter_id="", case_id="", item_id="")
    staff = stack.token(Role.COMMUNITY_STAFF, inside["community"], sub="matrix-staff")
    async with client_of(stack, staff) as client:
        matter = await client.post("/api/v1/matters/", json=_matter(target, Role.COMMUNITY_STAFF, "matrix-staff"))
        case = await client.post("/api/v1/mediation/cases", json=_case(target, Role.COMMUNITY_STAFF, "matrix-staff"))
        item = await client.post("/api/v1/disclosure/items", json=_item(target, Role.COMMUNITY_STAFF, "matrix-staff"))
    for made in (matter, case, item):
        assert made.status_code == 201, made.text
    target.matter_id, target.case_id, target.item_id = matter.json()["matter_id"], case.json()["id"], item.json()["id"]
    return target


@pytest.mark.parametrize("service", list(ROUTES))
async def test_each_role_acts_inside_its_scope_as_allowed_and_never_outside_it(stack, seeded, service):
    semaphore = asyncio.Semaphore(8)
    wrong: list[str] = []

    async def check(role: Role, where: str, route: Route) -> None:
        scope = (seeded.inside if where == "inside" else seeded.outside)[LEVEL_OF[role]]
        sub = str(uuid.uuid4())
        token = stack.token(role, scope, sub=sub)
        body = route.body(seeded, role, sub) if route.body else None
        async with semaphore, client_of(stack, token) as client:
            resp = await client.request(route.method, route.url(seeded), json=body)
        if where == "outside":
            ok = resp.status_code in (403, 404)
            expected = "403/404"
        elif role in route.allowed:
            ok, expected = resp.is_success, "2xx"
        else:
            ok, expected = resp.status_code == route.refused, str(route.refused)
        if not ok:
            wrong.append(f"{role}@{where} ({scope}) {route.method} {route.path} -> {resp.status_code}, "
                         f"expected {expected}: {resp.text[:160]}")

    await asyncio.gather(*(check(role, where, route) for route in ROUTES[service] for role in Role
                           for where in ("inside", "outside")))
    assert not wrong, f"{len(wrong)} answers break the matrix:\n" + "\n".join(wrong)
