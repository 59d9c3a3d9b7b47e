"""The internal grants look-up the gateway calls when it renews a log-in."""

from __future__ import annotations

import uuid

from test_registry_people_api import grant, new_household, new_resident

API = "/api/v1/registry"
INTERNAL = "/internal/v1/registry"


def _service(registry) -> dict[str, str]:
    return registry.auth("gateway", "370705", kind="service")


async def test_current_grants_include_the_household_role_and_drop_revoked_ones(registry):
    grid = await registry.fresh_grid()
    household = await new_household(registry, grid)
    person = await new_resident(registry, household)
    manager = await grant(registry, person["person_id"], "grid_manager", grid)
    await grant(registry, person["person_id"], "party_member", grid)
    before = await registry.client.get(f"{INTERNAL}/people/{person['person_id']}/grants", headers=_service(registry))
    assert before.status_code == 200, before.text
    assert before.json()["person_id"] == person["person_id"]
    assert sorted((g["role"], g["scope"]) for g in before.json()["grants"]) == [
        ("grid_manager", grid), ("party_member", grid), ("resident", household)]

    revoked = await registry.client.post(f"{API}/grants/{manager['grant_id']}/revoke", headers=registry.admin)
    assert revoked.status_code == 200, revoked.text
    after = await registry.client.get(f"{INTERNAL}/people/{person['person_id']}/grants", headers=_service(registry))
    assert sorted((g["role"], g["scope"]) for g in after.json()["grants"]) == [("party_member", grid), ("resident", household)]


async def test_current_grants_of_an_unknown_person_are_a_person_unknown_404(registry):
    resp = await registry.client.get(f"{INTERNAL}/people/{uuid.uuid4()}/grants", headers=_service(registry))
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("application/problem+json")
    # The gateway ends a log-in on this type only, never on a 404 of a missing route.
    assert resp.json()["type"] == "/problems/person-unknown"


async def test_current_grants_refuse_user_tokens_and_anonymous_callers(registry):
    grid = await registry.fresh_grid()
    household = await new_household(registry, grid)
    person = await new_resident(registry, household)
    path = f"{INTERNAL}/people/{person['person_id']}/grants"
    assert (await registry.client.get(path, headers=registry.admin)).status_code == 403
    own = registry.auth("resident", household, sub=person["person_id"])
    assert (await registry.client.get(path, headers=own)).status_code == 403
    assert (await registry.client.get(path)).status_code == 401
