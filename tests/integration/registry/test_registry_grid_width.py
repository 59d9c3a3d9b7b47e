"""The grid serial width is configuration (REGISTRY_GRID_SERIAL_WIDTH): codes, the API, imports and coverage follow it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from conftest import new_id_number, new_phone, registry_settings
from test_registry_import import HOUSEHOLD_HEADER, run, write_csv

from services.registry.app import create_app
from services.registry.rules.codes import DEFAULT_SCHEME, CodeScheme, configure, configured_scheme

API = "/api/v1/registry"


@contextmanager
def grid_width(width: int) -> Iterator[None]:
    """Runs the registry's codes with another grid serial width, as a deployment configured so would."""
    configure(CodeScheme(grid_width=width))
    try:
        yield
    finally:
        configure(DEFAULT_SCHEME)


def test_the_service_takes_its_width_from_its_settings(infra):
    try:
        create_app(registry_settings(infra, grid_serial_width=4))
        assert configured_scheme().grid_width == 4
    finally:
        configure(DEFAULT_SCHEME)


async def test_a_four_digit_grid_serial_is_a_grid_through_the_api_an_import_and_coverage(registry, tmp_path):
    community = await registry.fresh_community()
    with grid_width(4):
        three = await registry.create_unit(f"{community}001", "三位网格")
        assert three.status_code == 422 and three.json()["rule"] == "code.malformed", three.text
        grid = f"{community}0012"
        created = await registry.create_unit(grid, "第十二网格")
        assert created.status_code == 201 and created.json()["level"] == "grid", created.text
        building = await registry.create_unit(f"{grid}001", "1号楼")
        assert building.status_code == 201 and building.json()["level"] == "building", building.text
        home, other = f"{grid}00101" + "0101", f"{grid}00102" + "0201"
        path = write_csv(tmp_path / "h.csv", HOUSEHOLD_HEADER, [
            [home, "张伟", new_id_number(), new_phone(), "", "", "representative"],
            [other, "李娜", new_id_number(), new_phone(), "", "", "representative"],
        ])
        result = await run(registry, "households", path)
        assert result.status == "succeeded", result.errors
        read = (await registry.client.get(f"{API}/units/{home}", headers=registry.admin)).json()
        assert read["level"] == "household" and [a["code"] for a in read["ancestors"]][-3:] == [
            grid, f"{grid}001", f"{grid}00101"]
        # A household under a grid that does not exist is refused naming the grid, at the configured length.
        missing = write_csv(tmp_path / "m.csv", HOUSEHOLD_HEADER, [
            [f"{community}0099" + "00101" + "0101", "王芳", new_id_number(), new_phone(), "", "", "representative"]])
        refused = await run(registry, "households", missing)
        assert [(e.row, e.field) for e in refused.errors] == [(2, "household_code")]
        assert f"grid {community}0099 does not exist" in refused.errors[0].reason
        # Coverage counts the grid's households by its code: two and no grid manager is over the ratio; a manager
        # granted at the grid (a grid-level scope) brings it under.
        over = lambda report: report["grids_over_ratio"]["items"]  # noqa: E731
        coverage = await registry.client.get(f"{API}/coverage", params={"scope": community}, headers=registry.admin)
        assert coverage.status_code == 200 and over(coverage.json()) == [grid], coverage.text
        manager = await registry.client.post(f"{API}/people", headers=registry.admin, json={
            "name": "赵磊", "id_number": new_id_number(), "phone": new_phone(), "household_code": home})
        granted = await registry.client.post(f"{API}/grants", headers=registry.admin, json={
            "person_id": manager.json()["person_id"], "role": "grid_manager", "scope_code": grid})
        assert granted.status_code == 201, granted.text
        coverage = await registry.client.get(f"{API}/coverage", params={"scope": community}, headers=registry.admin)
        assert over(coverage.json()) == []
