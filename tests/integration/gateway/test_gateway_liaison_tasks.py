"""A department's task for a community, submitted at /liaison/v1/tasks: its body is checked at the gateway."""

from __future__ import annotations

import uuid

from gateway import apikeys
from youmin.kit.db import transaction


async def test_a_task_titled_with_spaces_alone_is_a_422_naming_the_title(gateway_app):
    async with transaction(gateway_app.state.sessions) as session:
        key = await apikeys.create_key(session, f"dept-{uuid.uuid4().hex[:8]}")
    # The matters service is unreachable here: a title let through would be a 502, not a 422.
    resp = await gateway_app.state.test_client.post(
        "/liaison/v1/tasks", json={"community_code": "370705001001", "catalogue_code": "C01", "title": " \u3000 "},
        headers={"x-api-key": key})
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in resp.json()["errors"]] == ["title"]
