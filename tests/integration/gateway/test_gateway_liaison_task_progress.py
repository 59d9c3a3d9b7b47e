"""A department's implementation tasks at /liaison/v1/implementation-tasks: the list's query and a report's body
(/{id}/progress and /{id}/spending) are checked at the gateway, before the matters service is asked."""

from __future__ import annotations

import uuid

import pytest

from gateway import apikeys
from youmin.kit.db import transaction

BLANK = " \u3000\t "
GOOD_SPENDING = {"item": "沥青采购", "amount_cents": 1_250_000, "spent_on": "2026-11-20"}


@pytest.mark.parametrize(("kind", "body", "field"), [
    ("progress", {"percent": 101, "note": "超额完成"}, "percent"),
    ("progress", {"percent": -1, "note": "倒退"}, "percent"),
    ("progress", {"percent": 50, "note": BLANK}, "note"),
    ("progress", {"percent": 50}, "note"),
    ("progress", {"percent": 50, "note": "x" * 2001}, "note"),
    ("progress", {"percent": 50, "note": "已开工", "recorded_by": "someone"}, "recorded_by"),
    ("spending", {**GOOD_SPENDING, "item": BLANK}, "item"),
    ("spending", {**GOOD_SPENDING, "amount_cents": 0}, "amount_cents"),
    ("spending", {**GOOD_SPENDING, "amount_cents": 10**15 + 1}, "amount_cents"),
    ("spending", {**GOOD_SPENDING, "spent_on": "2026-02-30"}, "spent_on"),
    ("spending", {**GOOD_SPENDING, "item": "付款\x00"}, "item"),
])
async def test_a_bad_task_report_is_a_422_naming_the_field(gateway_app, kind, body, field):
    async with transaction(gateway_app.state.sessions) as session:
        key = await apikeys.create_key(session, f"dept-{uuid.uuid4().hex[:8]}")
    # The matters service is unreachable here: a body let through would be a 502, not a 422.
    resp = await gateway_app.state.test_client.post(f"/liaison/v1/implementation-tasks/{uuid.uuid4()}/{kind}",
                                                    json=body, headers={"x-api-key": key})
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in resp.json()["errors"]] == [field], resp.text


async def test_a_good_task_report_goes_on_to_the_matters_service(gateway_app):
    async with transaction(gateway_app.state.sessions) as session:
        key = await apikeys.create_key(session, f"dept-{uuid.uuid4().hex[:8]}")
    for kind, body in (("progress", {"percent": 100, "note": "完工"}), ("spending", GOOD_SPENDING)):
        resp = await gateway_app.state.test_client.post(f"/liaison/v1/implementation-tasks/{uuid.uuid4()}/{kind}",
                                                        json=body, headers={"x-api-key": key})
        assert resp.status_code == 502, resp.text  # forwarded: the matters service is what is missing


async def test_a_task_report_needs_a_live_api_key(gateway_app):
    resp = await gateway_app.state.test_client.post(f"/liaison/v1/implementation-tasks/{uuid.uuid4()}/progress",
                                                    json={"percent": 10, "note": "开工"},
                                                    headers={"x-api-key": "not-a-key"})
    assert resp.status_code == 401, resp.text


def test_the_task_reports_are_in_the_liaison_openapi(gateway_app):
    paths = gateway_app.openapi()["paths"]
    for kind, schema in (("progress", "TaskProgressBody"), ("spending", "TaskSpendingBody")):
        operation = paths[f"/liaison/v1/implementation-tasks/{{task_id}}/{kind}"]["post"]
        assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(schema)
        assert {"401", "404", "409", "422", "502"} <= operation["responses"].keys()
        # /liaison/v1/tasks is the tasks a department pushes to communities (准入), whose ids are not these.
        assert f"/liaison/v1/tasks/{{task_id}}/{kind}" not in paths
    listing = paths["/liaison/v1/implementation-tasks"]["get"]
    assert listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ImplementationTaskPage")
    assert {p["name"] for p in listing["parameters"]} == {"status", "limit", "offset"}
    assert {"401", "502", "504"} <= listing["responses"].keys()


@pytest.mark.parametrize("kind", ["progress", "spending"])
async def test_the_old_task_report_paths_under_the_admission_tasks_are_gone(gateway_app, kind):
    async with transaction(gateway_app.state.sessions) as session:
        key = await apikeys.create_key(session, f"dept-{uuid.uuid4().hex[:8]}")
    body = {"percent": 10, "note": "开工"} if kind == "progress" else GOOD_SPENDING
    resp = await gateway_app.state.test_client.post(f"/liaison/v1/tasks/{uuid.uuid4()}/{kind}", json=body,
                                                    headers={"x-api-key": key})
    assert resp.status_code in (404, 405), resp.text


@pytest.mark.parametrize(("params", "field"), [
    ({"status": "done"}, "status"),
    ({"limit": 0}, "limit"),
    ({"limit": 501}, "limit"),
    ({"offset": -1}, "offset"),
    ({"offset": 2**63}, "offset"),
])
async def test_a_bad_query_of_the_implementation_task_list_is_a_422_naming_the_parameter(gateway_app, params, field):
    async with transaction(gateway_app.state.sessions) as session:
        key = await apikeys.create_key(session, f"dept-{uuid.uuid4().hex[:8]}")
    resp = await gateway_app.state.test_client.get("/liaison/v1/implementation-tasks", params=params,
                                                   headers={"x-api-key": key})
    assert resp.status_code == 422, resp.text
    assert [e["field"] for e in resp.json()["errors"]] == [field], resp.text


async def test_the_implementation_task_list_needs_a_live_api_key_and_goes_on_to_the_matters_service(gateway_app):
    client = gateway_app.state.test_client
    assert (await client.get("/liaison/v1/implementation-tasks")).status_code == 401
    assert (await client.get("/liaison/v1/implementation-tasks", headers={"x-api-key": "not-a-key"})).status_code == 401
    async with transaction(gateway_app.state.sessions) as session:
        key = await apikeys.create_key(session, f"dept-{uuid.uuid4().hex[:8]}")
    resp = await client.get("/liaison/v1/implementation-tasks", params={"status": "open", "limit": 5, "offset": 5},
                            headers={"x-api-key": key})
    assert resp.status_code == 502, resp.text  # forwarded: the matters service is what is missing
