"""Schemathesis over the gateway's aggregated OpenAPI, against the running stack over real HTTP.

Bounded: at most 20 derandomised examples per operation and generation mode (about a minute for both tests). The
gateway's own operations (/auth, /liaison, /open311) must be clean, and so must the services' operations (/api,
/public), fuzzed through the gateway in a second test so that their findings are reported separately. Checks: no
5xx, every response in its declared schema, every invalid request refused.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import negative_data_rejection, not_a_server_error, response_schema_conformance
from schemathesis.core.mutations import OperatorKind
from schemathesis.core.parameters import ParameterLocation

from gateway.apikeys import create_key
from youmin.kit.db import make_engine, make_sessionmaker, transaction
from youmin.testing import eventually

from .test_gateway_authorisation_matrix import path_to
from .test_gateway_liaison_feed import client_of
from .test_gateway_open311 import new_community

CHECKS = [not_a_server_error, response_schema_conformance, negative_data_rejection]
OWN = ("/auth/", "/liaison/", "/open311/")
EXAMPLES = 20
RATE_LIMITED_RETRIES = 5
INJECTED = ("authorization", "x-api-key")


def _only_injected(text: str, any_text: frozenset[str] = frozenset()) -> bool:
    """True for "accepted invalid data" whose only invalidity is what the test itself supplies or HTTP ignores:
    the credentials the test injects, extra query parameters (ignored, as HTTP APIs do), and a changed type of a query
    parameter that takes any text (`any_text`): whatever type was generated goes on the wire as text, which is valid."""
    if "Schema-violating request accepted" not in text:
        return False
    reasons = [line.strip() for line in text.splitlines() if line.strip().startswith("- ") and ":" in line
               and line.strip()[2:].split(":")[0] in ("query", "header", "path", "body", "cookie")]
    return bool(reasons) and all(
        r.startswith("- query: violates `additionalProperties`") or "(was X-Api-Key)" in r or "(was Authorization)" in r
        or any(r.startswith(f"- query: violates `type` at /properties/{name}/") for name in any_text)
        for r in reasons)


def _any_text_query_parameters(operation) -> frozenset[str]:
    """The query parameters whose schema takes any string (optionally null), with no pattern, length or format."""
    names = set()
    for parameter in operation.definition.raw.get("parameters", []):
        schema = parameter.get("schema", {})
        branches = schema.get("anyOf", [schema])
        if parameter.get("in") == "query" and any(b == {"type": "string"} for b in branches) and all(
                b.get("type") in ("string", "null") for b in branches):
            names.add(parameter["name"])
    return frozenset(names)


def _only_excused_mutations(case) -> bool:
    """True for a negative case made invalid only by mutations whose acceptance is no finding:

    - a changed JSON type of a text body (text/csv): schemathesis sends the array or boolean it made as its text,
      still a string on the wire (a false positive of schemathesis, which excuses the same for path and query
      parameters but not for non-JSON bodies);
    - a change to the credentials the test injects itself, which replace whatever was generated.
    """
    mutations = getattr(case.meta.phase.data, "mutations", None) if case.meta else None
    text_body = "json" not in (case.media_type or "json")

    def excused(m) -> bool:
        if m.parameter_location is ParameterLocation.HEADER:
            return (m.parameter or "").lower() in INJECTED
        return text_body and m.parameter_location is ParameterLocation.BODY and m.operator is OperatorKind.CHANGE_TYPE

    return bool(mutations) and all(excused(m) for m in mutations)


def _call(case, base_url: str, headers: dict[str, str]):
    """Sends a case; a 429 is retried after the Retry-After it names, so rate limits do not eat the examples."""
    for _ in range(RATE_LIMITED_RETRIES):
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        if response.status_code != 429:
            break
        retry_after = next((v[0] for k, v in response.headers.items() if k.lower() == "retry-after"), "1")
        time.sleep(float(retry_after))
    return response


def _aim(case, targets: dict[str, str]) -> None:
    """Points a case's parameters and top-level body fields that name a seeded object or unit at it."""
    for values in (case.path_parameters, case.query, case.body):
        if isinstance(values, dict):
            for name in values.keys() & targets.keys():
                values[name] = targets[name]


def _fuzz(operation, base_url: str, headers: dict[str, str], mode: GenerationMode,
          targets: dict[str, str]) -> list[str]:
    """Runs one operation's examples (in a worker thread: the stack serves on the test's event loop).

    About half the positive examples are aimed at the seeded objects, so operations answer from real data too and not
    only with 404 or a refused unit code; negative examples are left as generated, to stay invalid.
    """
    failures: list[str] = []
    any_text = _any_text_query_parameters(operation)

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode), aimed=st.booleans())
    def run(case, aimed: bool) -> None:
        if aimed and mode is GenerationMode.POSITIVE:
            _aim(case, targets)
        response = _call(case, base_url, headers)
        if response.status_code == 429:
            return  # a rate limit, not the operation, answered
        try:
            case.validate_response(response, checks=[
                check for check in CHECKS if check is not negative_data_rejection or not _only_excused_mutations(case)])
        except BaseException as exc:  # noqa: BLE001 - collected and reported together (a FailureGroup)
            text = str(exc)
            if not _only_injected(text, any_text):
                failures.append(f"{operation.label} [{mode.value}] -> {response.status_code}: {text[:2000]}")

    run()
    return failures


async def _run(stack, prefixes: tuple[str, ...], headers_for: Callable[[str], dict[str, str]],
               targets: dict[str, str] | None = None) -> list[str]:
    import httpx

    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as client:
        doc = (await client.get("/openapi.json")).json()
    doc["servers"] = [{"url": stack.gateway_url}]
    schema = schemathesis.openapi.from_dict(doc)
    failures: list[str] = []
    fuzzed = 0
    for result in schema.get_all_operations():
        if not hasattr(result, "ok"):  # an Err: the operation's schema does not load
            failures.append(f"an operation's schema does not load: {result.err()}")
            continue
        operation = result.ok()
        if not operation.path.startswith(prefixes):
            continue
        fuzzed += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            headers = headers_for(f"{operation.label} [{mode.value}]")
            failures += await asyncio.to_thread(_fuzz, operation, stack.gateway_url, headers, mode, targets or {})
    assert fuzzed >= 5, f"only {fuzzed} operations under {prefixes} were fuzzed"
    return sorted(set(failures))  # Hypothesis replays a failing example: each is reported once


async def _department_key(stack) -> str:
    engine = make_engine(stack.settings.db_url(), pool_size=1)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            return await create_key(session, f"fuzz-{uuid.uuid4().hex[:6]}")
    finally:
        await engine.dispose()


async def _targets(stack) -> dict[str, str]:
    """Seeds a community of the fuzzer's own with its units, and a matter, a mediation case and a disclosure item
    there; returns them by the parameter names that take them."""
    inside = path_to(await new_community(stack))
    community = inside["community"]
    async with client_of(stack, stack.token("admin", "370705", sub="fuzz-seeder")) as client:
        for level, parent in (("grid", "community"), ("building", "grid"), ("unit", "building"), ("household", "unit")):
            made = await client.post("/api/v1/registry/units", json={
                "code": inside[level], "parent_code": inside[parent], "name": f"模糊测试{level}"})
            assert made.status_code == 201, made.text
    async with client_of(stack, stack.token("community_staff", community, sub="fuzz-seeder")) as client:

        async def raised():
            # The matters service learns a new community from the registry's events.
            resp = await client.post("/api/v1/matters/", json={
                "title": "楼道灯不亮", "description": "三楼楼道灯坏了一周", "category": "property_management",
                "unit_code": inside["unit"]})
            return resp if resp.status_code == 201 else None

        matter = await eventually(raised, timeout=30, interval=0.2)
        case = await client.post("/api/v1/mediation/cases", json={
            "place_code": inside["unit"], "dispute_type": "neighbour", "description": "楼上漏水到楼下",
            "parties": [{"outside": {"full_name": "张三"}}, {"outside": {"full_name": "李四"}, "role": "respondent"}]})
        item = await client.post("/api/v1/disclosure/items", json={
            "unit_code": inside["grid"], "kind": "residents", "category": "notice", "title": "停水通知",
            "body": "周三上午九点至十二点停水检修"})
    assert case.status_code == 201 and item.status_code == 201, case.text + item.text
    codes = ("code", "community_code", "scope", "unit", "unit_code", "within", "parent", "place_code", "scope_code")
    return {**dict.fromkeys(codes, community), "matter_id": matter.json()["matter_id"], "case_id": case.json()["id"],
            "item_id": item.json()["id"]}


async def test_gateway_operations_survive_schemathesis(stack):
    token = stack.token("district_staff", "370705", sub="fuzz-admin")
    headers = {"authorization": f"Bearer {token}", "x-api-key": await _department_key(stack)}
    failures = await _run(stack, OWN, lambda _: headers)
    assert not failures, f"{len(failures)} schemathesis failures:\n" + "\n".join(failures)


async def test_service_operations_survive_schemathesis_through_the_gateway(stack):
    # One admin per operation and mode: the gateway's per-user rate limit then never answers for the operation.
    def headers_for(label: str) -> dict[str, str]:
        return {"authorization": "Bearer " + stack.token("admin", "370705", sub=str(uuid.uuid5(uuid.NAMESPACE_URL, label)))}

    failures = await _run(stack, ("/api/", "/public/"), headers_for, await _targets(stack))
    assert not failures, f"{len(failures)} schemathesis failures:\n" + "\n".join(failures)
