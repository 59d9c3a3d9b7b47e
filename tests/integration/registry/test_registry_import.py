"""Bulk CSV import: per-row error report, all-or-nothing per file, idempotent re-import, events."""

from __future__ import annotations

import csv
import json
import uuid
from datetime import UTC, date, datetime, timedelta

import asyncpg
from conftest import new_id_number, new_phone

from services.registry import importer
from youmin.kit.calendar import local_date
from youmin.kit.events import validate_data
from youmin.kit.migrate import drop_database, ensure_database, upgrade_async
from youmin.kit.relay import asyncpg_dsn

API = "/api/v1/registry"


def write_csv(path, header, rows):
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


async def run(registry, kind, path):
    conn = await registry.db()
    try:
        return await importer.import_file(conn, kind, path)
    finally:
        await conn.close()


async def count(registry, sql, *args):
    conn = await registry.db()
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def execute(registry, sql, *args):
    conn = await registry.db()
    try:
        await conn.execute(sql, *args)
    finally:
        await conn.close()


def household_rows(grid: str, households: int = 3):
    rows = []
    for h in range(1, households + 1):
        code = f"{grid}00101{h:04d}"
        rows.append([code, f"户主{h}", new_id_number(), new_phone(), "", "奎文区某路", "representative"])
        rows.append([code, f"家人{h}", new_id_number(adult=False), "", "", "", "member"])
    return rows


HOUSEHOLD_HEADER = ["household_code", "name", "id_number", "phone", "birth_date", "address", "role_in_household"]


async def test_error_report_names_row_field_and_reason_and_nothing_is_written(registry, tmp_path):
    community = await registry.fresh_community()
    path = write_csv(tmp_path / "units.csv", ["code", "name", "level"], [
        [community + "001", "一网格", "grid"],
        [community + "002", "", "grid"],  # row 3: no name
        [community + "0x3", "三网格", "grid"],  # row 4: malformed
        [community + "001", "一网格重复", "grid"],  # row 5: duplicate in file
        [community[:-3] + "198" + "004", "四网格", "grid"],  # row 6: parent community does not exist
    ])
    result = await run(registry, "units", path)
    assert result.status == "failed"
    assert [(e.row, e.field) for e in result.errors] == [(3, "name"), (4, "code"), (5, "code"), (6, "code")]
    assert result.errors[1].reason.startswith("code.malformed")
    assert result.errors[2].reason.startswith("code.duplicate")
    assert result.errors[3].reason.startswith("code.not_under_parent")
    # All or nothing: the good first row was not written either.
    assert await count(registry, "SELECT count(*) FROM org_unit WHERE code = $1", community + "001") == 0
    status = await registry.client.get(f"{API}/imports/{result.import_id}", headers=registry.admin)
    assert status.status_code == 200
    assert status.json()["status"] == "failed" and status.json()["error_count"] == 4
    assert status.json()["errors"][0] == {"row": 3, "field": "name", "reason": "required"}


async def test_same_household_file_twice_changes_nothing_the_second_time(registry, tmp_path):
    grid = await registry.fresh_grid()
    path = write_csv(tmp_path / "households.csv", HOUSEHOLD_HEADER, household_rows(grid, 3))
    first = await run(registry, "households", path)
    assert first.status == "succeeded", first.errors
    assert first.rows_created == 6
    snapshot = [await count(registry, f"SELECT count(*) FROM {t}") for t in
                ("org_unit", "person", "person_personal", "household", "outbox_event")]
    second = await run(registry, "households", path)
    assert second.status == "succeeded" and second.rows_created == 0
    assert [await count(registry, f"SELECT count(*) FROM {t}") for t in
            ("org_unit", "person", "person_personal", "household", "outbox_event")] == snapshot
    households = await registry.client.get(f"{API}/units/{grid}/households", headers=registry.admin)
    body = households.json()
    assert body["total"] == 3 and all(len(h["members"]) == 2 for h in body["households"])
    assert all(h["representative_person_id"] for h in body["households"])


async def test_household_import_with_one_bad_id_number_writes_nothing(registry, tmp_path):
    grid = await registry.fresh_grid()
    rows = household_rows(grid, 2)
    rows[3][2] = rows[3][2][:-1] + ("0" if rows[3][2][-1] != "0" else "1")  # row 5: wrong check character
    result = await run(registry, "households", write_csv(tmp_path / "h.csv", HOUSEHOLD_HEADER, rows))
    assert result.status == "failed"
    assert [(e.row, e.field, e.reason) for e in result.errors] == [(5, "id_number", "check character does not match")]
    assert await count(registry, "SELECT count(*) FROM org_unit WHERE code LIKE $1", grid + "%") == 1


async def test_household_import_publishes_residency_and_representative_events_without_personal_data(registry, tmp_path):
    grid = await registry.fresh_grid()
    rows = household_rows(grid, 2)
    result = await run(registry, "households", write_csv(tmp_path / "h.csv", HOUSEHOLD_HEADER, rows))
    assert result.status == "succeeded"
    conn = await registry.db()
    try:
        records = await conn.fetch(
            "SELECT type, key, subject, dataschema, data FROM outbox_event WHERE data->>'household_code' LIKE $1"
            " OR data->>'unit_code' LIKE $1", grid + "_%")
    finally:
        await conn.close()
    types = sorted(r["type"] for r in records)
    assert types.count("gov.youmin.registry.residency.changed.v1") == 4
    assert types.count("gov.youmin.registry.household.representative_set.v1") == 2
    # The buildings, units and households the file implied are published as POST /units publishes them.
    created = {json.loads(r["data"])["unit_code"]: json.loads(r["data"]) for r in records
               if r["type"] == "gov.youmin.registry.unit.created.v1"}
    homes = {row[0] for row in rows}
    assert set(created) == homes | {h[:20] for h in homes} | {h[:18] for h in homes}
    assert all(created[h]["level"] == "household" and created[h]["parent_code"] == h[:20] for h in homes)
    personal = {value for row in rows for value in (row[1], row[2], row[3], row[5]) if value}
    for record in records:
        data = json.loads(record["data"])
        validate_data(record["type"], data)  # the bulk-written rows match the event models
        assert record["key"] == record["subject"]
        assert not personal & {str(v) for v in data.values()}
        assert not any(p in record["data"] for p in personal)


async def test_people_import_grants_roles_and_reimport_grants_nothing_new(registry, tmp_path):
    grid = await registry.fresh_grid()
    community = grid[:12]
    header = ["name", "id_number", "phone", "role", "scope_code", "certified_social_worker", "from_organisation"]
    worker_id = new_id_number()
    rows = [
        ["孙社工", worker_id, new_phone(), "community_worker", community, "true", ""],
        ["孙社工", worker_id, "", "mediator", community, "", ""],
        ["周委员", new_id_number(), new_phone(), "part_time_member", community, "", "潍坊市某医院"],
        ["吴网格", new_id_number(), new_phone(), "grid_manager", grid, "", ""],
    ]
    path = write_csv(tmp_path / "people.csv", header, rows)
    first = await run(registry, "people", path)
    assert first.status == "succeeded", first.errors
    holders = await registry.client.get(f"{API}/roles/community_worker/holders", params={"scope": community},
                                        headers=registry.admin)
    assert [h["certified_social_worker"] for h in holders.json()] == [True]
    second = await run(registry, "people", path)
    assert second.status == "succeeded" and second.rows_created == 0


async def test_staff_registered_without_a_home_are_placed_by_the_households_file_and_published(registry, tmp_path):
    grid = await registry.fresh_grid()
    manager, adviser = new_id_number(), new_id_number()
    header = ["name", "id_number", "role", "scope_code", "household_code"]
    staff = await run(registry, "people", write_csv(tmp_path / "staff.csv", header, [
        ["吴网格", manager, "grid_manager", grid, ""], ["郑律师", adviser, "legal_adviser", grid[:12], ""]]))
    assert staff.status == "succeeded", staff.errors
    # The households file of the 户籍 lists the grid manager at home.
    home = f"{grid}00101{1:04d}"
    rows = [[home, "吴网格", manager, new_phone(), "", "奎文区某路", "representative"]]
    path = write_csv(tmp_path / "households.csv", HOUSEHOLD_HEADER, rows)
    placed = await run(registry, "households", path)
    assert placed.status == "succeeded", placed.errors
    query = ("SELECT h.code FROM person p JOIN person_personal pp USING (person_id) JOIN org_unit h "
             "ON h.unit_id = p.household_id WHERE pp.id_number = $1")
    assert await count(registry, query, manager) == home
    events = "SELECT count(*) FROM outbox_event WHERE type LIKE '%residency.changed%' AND data->>'household_code' = $1"
    assert await count(registry, events, home) == 1
    assert (await run(registry, "households", path)).status == "succeeded"  # again: nothing changes
    assert await count(registry, events, home) == 1
    # A people file gives the legal adviser a home too; another household for the grid manager is refused.
    other = f"{grid}00101{2:04d}"
    await run(registry, "households", write_csv(tmp_path / "h2.csv", HOUSEHOLD_HEADER, [
        [other, "冯户主", new_id_number(), new_phone(), "", "奎文区某路", "representative"]]))
    adviser_home = await run(registry, "people", write_csv(tmp_path / "p2.csv", header, [
        ["郑律师", adviser, "legal_adviser", grid[:12], other]]))
    assert adviser_home.status == "succeeded", adviser_home.errors
    assert await count(registry, query, adviser) == other
    moved = await run(registry, "people", write_csv(tmp_path / "p3.csv", header, [
        ["吴网格", manager, "grid_manager", grid, other]]))
    assert moved.status == "failed" and moved.errors[0].reason.startswith("person.other_household")


async def test_people_import_refuses_a_role_at_the_wrong_level(registry, tmp_path):
    grid = await registry.fresh_grid()
    header = ["name", "id_number", "role", "scope_code"]
    result = await run(registry, "people", write_csv(tmp_path / "p.csv", header, [["钱网格", new_id_number(), "grid_manager", grid[:12]]]))
    assert result.status == "failed"
    assert result.errors[0].row == 2 and result.errors[0].field == "scope_code"
    assert result.errors[0].reason.startswith("role.scope_level")


async def test_file_with_a_missing_column_is_refused_at_the_header(registry, tmp_path):
    result = await run(registry, "units", write_csv(tmp_path / "u.csv", ["code"], [["370705001"]]))
    assert result.status == "failed"
    assert [(e.row, e.field, e.reason) for e in result.errors] == [(1, "name", "missing column")]


async def test_file_naming_a_column_twice_is_refused_at_the_header(registry, tmp_path):
    result = await run(registry, "units", write_csv(tmp_path / "u.csv", ["code", "name", "code"],
                                                    [["370705001", "街道", "370705002"]]))
    assert result.status == "failed"
    assert [(e.row, e.field, e.reason) for e in result.errors] == [(1, "code", "column given more than once")]


async def test_csv_upload_through_the_api_reports_errors(registry):
    community = await registry.fresh_community()
    body = f"code,name\n{community}001,一网格\n{community}1000,坏码\n".encode()
    response = await registry.client.post(f"{API}/imports/units", content=body, headers={**registry.admin,
                                                                                      "content-type": "text/csv"})
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    assert response.json()["import_status"] == "failed" and response.json()["import_id"]
    assert response.json()["errors"] == [{"row": 3, "field": "code",
                                          "reason": response.json()["errors"][0]["reason"]}]
    assert response.json()["errors"][0]["reason"].startswith("code.malformed")


def _upload(registry, kind: str, body: bytes, role: str = "admin", scope: str = "370705"):
    headers = {"authorization": f"Bearer {registry.token(role, scope)}", "content-type": "text/csv"}
    return registry.client.post(f"{API}/imports/{kind}", content=body, headers=headers)


async def test_an_upload_does_no_more_than_its_caller_could_through_the_api(registry):
    community = await registry.fresh_community()
    # District staff of another district cannot import units into this one.
    outside = await _upload(registry, "units", f"code,name\n{community}005,外区网格\n".encode(),
                            role="district_staff", scope="370702")
    assert outside.status_code == 422 and outside.json()["import_status"] == "failed", outside.text
    assert outside.json()["errors"][0]["field"] == "code"
    assert outside.json()["errors"][0]["reason"].startswith("code.outside_scope")
    assert await count(registry, "SELECT count(*) FROM org_unit WHERE code = $1", f"{community}005") == 0
    # District staff cannot make anyone an administrator by file; an administrator can.
    row = f"name,id_number,role,scope_code\n王五,{new_id_number()},admin,370705\n".encode()
    refused = await _upload(registry, "people", row, role="district_staff")
    assert refused.status_code == 422 and refused.json()["import_status"] == "failed"
    assert refused.json()["errors"] == [{"row": 2, "field": "role",
                                         "reason": "role.admin_only: only an administrator grants the administrator role"}]
    assert (await _upload(registry, "people", row, role="admin")).json()["status"] == "succeeded"
    # Nor anyone district staff, as the API would not let them either.
    peer = f"name,id_number,role,scope_code\n赵六,{new_id_number()},district_staff,370705\n".encode()
    refused = await _upload(registry, "people", peer, role="district_staff")
    assert [(e["field"], e["reason"].split(":")[0]) for e in refused.json()["errors"]] == [("role", "role.admin_only")]
    # A code with a NUL character, outside the caller's district too, is reported as the NUL it holds: the report is
    # stored and answered with the import's id, and the import is not left running.
    nul = await _upload(registry, "units", b"code,name\n9\x00,x\n", role="district_staff")
    assert nul.status_code == 422 and nul.json()["import_status"] == "failed", nul.text
    assert [e["field"] for e in nul.json()["errors"]] == ["code"] and nul.json()["import_id"]


async def test_an_import_report_is_read_by_those_who_import_only(registry):
    community = await registry.fresh_community()
    done = await _upload(registry, "units", f"code,name\n{community}006,六网格\n".encode())
    url = f"{API}/imports/{done.json()['import_id']}"
    grid_manager = {"authorization": f"Bearer {registry.token('grid_manager', community + '006')}"}
    assert (await registry.client.get(url, headers=grid_manager)).status_code == 403
    assert (await registry.client.get(url, headers=registry.admin)).status_code == 200


async def test_an_unreadable_file_is_a_failed_import_with_the_reason_and_writes_nothing(registry):
    community = await registry.fresh_community()
    files = {
        "gbk": f"code,name\n{community}007,第七网格\n".encode("gbk"),
        "utf-16": f"code,name\n{community}007,第七网格\n".encode("utf-16"),
        "huge field": f"code,name\n{community}007,{'长' * 140_000}\n".encode(),
        "unclosed quote": (f'code,name\n{community}007,"第七网格\n' + "x,y\n" * 70_000).encode(),
        "nul": f"code,name\n{community}007,第七\x00网格\n".encode(),
    }
    for label, body in files.items():
        resp = await _upload(registry, "units", body)
        assert resp.status_code == 422 and resp.headers["content-type"] == "application/problem+json", (label, resp.text)
        assert resp.json()["import_status"] == "failed", (label, resp.text)
        assert resp.json()["errors"][0]["field"] in ("file", "name"), (label, resp.json()["errors"])
    assert await count(registry, "SELECT count(*) FROM org_unit WHERE code = $1", f"{community}007") == 0


async def test_an_unreadable_row_is_reported_by_its_own_number(registry):
    community = await registry.fresh_community()
    good = "".join(f"{community}{n:03d},第{n}网格\n" for n in range(1, 301))  # rows 2..301, 10 KB of UTF-8
    gbk = f"code,name\n{good}".encode() + f"{community}301,第三百零一网格\n".encode("gbk")  # row 302, saved as GBK
    resp = await _upload(registry, "units", gbk)
    assert resp.status_code == 422 and resp.json()["errors"] == [
        {"row": 302, "field": "file", "reason": "not UTF-8 text; save the file as UTF-8 CSV"}], resp.text
    huge = await _upload(registry, "units", f"code,name\n{community}007,{'长' * 140_000}\n".encode())
    assert [(e["row"], e["field"]) for e in huge.json()["errors"]] == [(2, "file")], huge.text
    assert await count(registry, "SELECT count(*) FROM org_unit WHERE code LIKE $1", f"{community}%") == 1


async def test_rows_of_empty_fields_below_the_data_are_skipped_as_blank_lines(registry):
    # A spreadsheet saved as CSV writes its empty rows as commas.
    community = await registry.fresh_community()
    body = f"\ufeffcode,name\r\n{community}008,第八网格\r\n,\r\n , \r\n\r\n{community}009,第九网格\r\n,\r\n".encode()
    resp = await _upload(registry, "units", body)
    assert resp.status_code == 201 and resp.json()["status"] == "succeeded", resp.text
    assert (resp.json()["rows_read"], resp.json()["rows_created"]) == (6, 2)


async def test_a_file_whose_lines_end_with_a_lone_cr_is_read_row_by_row(registry):
    # Some spreadsheets save CSV with CR line ends (no LF); a bad byte is still reported at its own row.
    community = await registry.fresh_community()
    body = f"code,name\r{community}010,第十网格\r{community}011,\"第十一\r网格\"\r".encode()
    resp = await _upload(registry, "units", body)
    assert resp.status_code == 201 and resp.json()["rows_created"] == 2, resp.text
    bad = f"code,name\r{community}012,第十二网格\r".encode() + f"{community}013,第十三网格\r".encode("gbk")
    resp = await _upload(registry, "units", bad)
    assert [(e["row"], e["field"]) for e in resp.json()["errors"]] == [(3, "file")], resp.text


async def test_households_import_refuses_a_minor_as_representative_or_proxy(registry, tmp_path):
    grid = await registry.fresh_grid()
    first, second = f"{grid}001010101", f"{grid}001010102"
    rows = [
        [first, "少年户主", new_id_number(adult=False), "", "", "", "representative"],  # row 2
        [second, "成年户主", new_id_number(), new_phone(), "", "", "representative"],
        [second, "少年代理", new_id_number(adult=False), "", "", "", "proxy"],  # row 4
        [second, "少年成员", new_id_number(adult=False), "", "", "", "member"],
    ]
    result = await run(registry, "households", write_csv(tmp_path / "h.csv", HOUSEHOLD_HEADER, rows))
    assert result.status == "failed"
    assert [(e.row, e.field, e.reason.split(":")[0]) for e in result.errors] == [
        (2, "role_in_household", "household.representative_minor"), (4, "role_in_household", "household.proxy_minor")]
    assert await count(registry, "SELECT count(*) FROM org_unit WHERE code LIKE $1", grid + "%") == 1


async def test_a_household_takes_at_most_ten_proxies_counting_those_recorded_already(registry, tmp_path):
    grid = await registry.fresh_grid()
    home = f"{grid}001010101"
    proxies = [[home, f"代理{n}", new_id_number(), "", "", "", "proxy"] for n in range(8)]
    first = await run(registry, "households", write_csv(tmp_path / "a.csv", HOUSEHOLD_HEADER, proxies))
    assert first.status == "succeeded", first.errors
    # The same eight again and three more: eleven in all; the eleventh proxy's row (row 12) is refused.
    more = proxies + [[home, f"新代理{n}", new_id_number(), "", "", "", "proxy"] for n in range(3)]
    result = await run(registry, "households", write_csv(tmp_path / "b.csv", HOUSEHOLD_HEADER, more))
    assert result.status == "failed"
    assert [(e.row, e.field, e.reason.split(":")[0]) for e in result.errors] == [
        (12, "role_in_household", "household.too_many_proxies")]
    # Two more make ten, which is allowed.
    assert (await run(registry, "households", write_csv(tmp_path / "c.csv", HOUSEHOLD_HEADER, more[:10]))).status \
        == "succeeded"
    # Through the API too.
    resp = await registry.client.put(f"{API}/households/{home}/representative", headers=registry.admin,
                                     json={"representative_person_id": None,
                                           "proxy_person_ids": [str(uuid.uuid4()) for _ in range(11)]})
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "proxy_person_ids", resp.text


async def test_households_import_takes_a_registered_persons_adulthood_as_the_registry_records_it(registry, tmp_path):
    grid = await registry.fresh_grid()
    home = f"{grid}001010101"
    for code, name in ((grid + "001", "1号楼"), (grid + "00101", "1单元"), (home, "0101")):
        assert (await registry.create_unit(code, name)).status_code == 201
    id_number = new_id_number()
    person = await registry.client.post(f"{API}/people", json={"name": "刚成年", "id_number": id_number,
                                                                 "household_code": home}, headers=registry.admin)
    assert person.status_code == 201, person.text
    # Not yet published as an adult (the coming-of-age job has not reached them): the API refuses them as the
    # household's representative, and so does an import naming them.
    person_id = uuid.UUID(person.json()["person_id"])
    await execute(registry, "UPDATE person SET adult = false WHERE person_id = $1", person_id)
    refused = await registry.client.put(f"{API}/households/{home}/representative", headers=registry.admin,
                                        json={"representative_person_id": str(person_id)})
    assert refused.status_code == 422 and refused.json()["rule"] == "household.representative_minor"
    path = write_csv(tmp_path / "h.csv", HOUSEHOLD_HEADER, [[home, "刚成年", id_number, "", "", "", "representative"]])
    result = await run(registry, "households", path)
    assert result.status == "failed"
    assert [(e.row, e.field) for e in result.errors] == [(2, "role_in_household")]
    assert result.errors[0].reason.startswith("household.representative_minor")
    await execute(registry, "UPDATE person SET adult = true WHERE person_id = $1", person_id)
    assert (await run(registry, "households", path)).status == "succeeded"


async def test_household_codes_imported_as_units_are_households_that_a_households_import_then_fills(registry, tmp_path):
    grid = await registry.fresh_grid()
    homes = [f"{grid}001010101", f"{grid}001010102"]
    units = write_csv(tmp_path / "u.csv", ["code", "name"],
                      [[grid + "001", "1号楼"], [grid + "00101", "1单元"], *[[h, h[-4:] + "室"] for h in homes]])
    assert (await run(registry, "units", units)).status == "succeeded"
    page = (await registry.client.get(f"{API}/units/{grid}/households", headers=registry.admin)).json()
    assert page["total"] == 2 and [h["household_code"] for h in page["households"]] == homes
    coverage = (await registry.client.get(f"{API}/coverage", params={"scope": grid}, headers=registry.admin)).json()
    assert coverage["households_without_party_contact"]["items"] == homes
    early = {"name": "先登记", "id_number": new_id_number(), "household_code": homes[1]}
    registered = await registry.client.post(f"{API}/people", json=early, headers=registry.admin)
    assert registered.status_code == 201, registered.text
    rows = [
        [homes[0], "户主甲", new_id_number(), new_phone(), "", "", "representative"],
        [homes[0], "代理甲", new_id_number(), new_phone(), "", "", "proxy"],
        [homes[0], "孩子甲", new_id_number(adult=False), "", "", "", "member"],
        [homes[1], "户主乙", new_id_number(), new_phone(), "", "", "representative"],
    ]
    result = await run(registry, "households", write_csv(tmp_path / "h.csv", HOUSEHOLD_HEADER, rows))
    assert result.status == "succeeded", result.errors
    page = (await registry.client.get(f"{API}/units/{grid}/households", headers=registry.admin)).json()
    ids = {m["personal"]["name"]: m["person_id"] for h in page["households"] for m in h["members"]}
    assert [(h["household_code"], h["representative_person_id"], h["proxy_person_ids"], len(h["members"]))
            for h in page["households"]] == [(homes[0], ids["户主甲"], [ids["代理甲"]], 3),
                                             (homes[1], ids["户主乙"], [], 2)]


async def test_a_household_retired_before_its_grid_moved_is_not_issued_again_by_an_import(registry, tmp_path):
    grid = await registry.fresh_grid()
    target = await registry.fresh_community()
    home = f"{grid}001010101"
    for code, name in ((grid + "001", "1号楼"), (grid + "00101", "1单元"), (home, "0101")):
        assert (await registry.create_unit(code, name)).status_code == 201
    retired = await registry.client.post(f"{API}/units/{home}/retire", json={}, headers=registry.admin)
    assert retired.status_code == 200, retired.text
    moved = await registry.client.post(f"{API}/units/{grid}/move", json={"new_parent_code": target,
                                                                         "new_code": target + "009"},
                                       headers=registry.admin)
    assert moved.status_code == 200, moved.text
    moved_home = f"{target}009001010101"
    # Its code under the moved grid is retired as its old one is.
    assert await count(registry, "SELECT reason FROM retired_code WHERE code = $1", moved_home) == "retired"
    households = write_csv(tmp_path / "h.csv", HOUSEHOLD_HEADER, [[moved_home, "新住户", new_id_number(), "", "", "",
                                                                   "representative"]])
    units = write_csv(tmp_path / "u.csv", ["code", "name"], [[moved_home, "0101室"]])

    async def refused() -> None:
        for kind, path, field in (("households", households, "household_code"), ("units", units, "code")):
            result = await run(registry, kind, path)
            assert result.status == "failed", kind
            assert [(e.row, e.field) for e in result.errors] == [(2, field)], result.errors
            assert result.errors[0].reason.startswith(f"code.retired_reuse: {moved_home}"), result.errors

    await refused()
    # Without its retired_code row (a move recorded before they were kept), the retired unit still refuses the code.
    await execute(registry, "DELETE FROM retired_code WHERE code = $1", moved_home)
    await refused()
    assert await count(registry, "SELECT count(*) FROM person WHERE household_id = (SELECT unit_id FROM org_unit "
                                 "WHERE code = $1)", moved_home) == 0


async def test_units_import_refuses_an_effective_date_ahead_of_today_or_before_the_parent_began(registry, tmp_path):
    community = await registry.fresh_community()  # in effect from 2026-01-01
    today = local_date(datetime.now(UTC))  # in China, as the API takes it
    rows = [
        [community + "001", "一网格", str(today + timedelta(days=1))],  # row 2
        [community + "002", "二网格", "2025-12-31"],  # row 3
        [community + "003", "三网格", str(today)],
    ]
    result = await run(registry, "units", write_csv(tmp_path / "u.csv", ["code", "name", "effective_on"], rows))
    assert result.status == "failed"
    assert [(e.row, e.field, e.reason.split(":")[0]) for e in result.errors] == [
        (2, "effective_on", "date.in_future"), (3, "effective_on", "date.before_record")]
    assert await count(registry, "SELECT count(*) FROM org_unit WHERE code LIKE $1", community + "_%") == 0
    good = await run(registry, "units", write_csv(tmp_path / "ok.csv", ["code", "name", "effective_on"], rows[2:]))
    assert good.status == "succeeded", good.errors
    assert await count(registry, "SELECT effective_on FROM org_unit WHERE code = $1", community + "003") == today


async def test_migration_backfills_the_retired_codes_and_households_the_imports_rely_on(infra):
    url = infra.database_url("registry_backfill_migration")
    await drop_database(url)
    await ensure_database(url)
    try:
        await upgrade_async("registry", url, "registry_0009")
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            # As left by the code before: a retired household re-coded by a move (its new code never recorded) and a
            # household code imported as a unit (no household row); the parents do not matter here.
            units = [("370705001001001001010101", "household", date(2026, 3, 1)),
                     ("370705001001001001010102", "household", None),
                     ("370705001001001001010103", "household", date(2026, 2, 1))]
            ids = {code: uuid.uuid4() for code, _, _ in units}
            await conn.executemany("INSERT INTO org_unit (unit_id, code, level, name, retired_on) VALUES ($1, $2, $3,"
                                   " 'x', $4)", [(ids[c], c, level, on) for c, level, on in units])
            await conn.execute("INSERT INTO retired_code (code, unit_id, retired_on, reason) VALUES ($1, $2, $3,"
                               " 'retired')", units[2][0], ids[units[2][0]], units[2][2])
            await conn.execute("INSERT INTO household (unit_id) VALUES ($1)", ids[units[2][0]])
        finally:
            await conn.close()

        await upgrade_async("registry", url)
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            retired = await conn.fetch("SELECT code, unit_id, retired_on, reason FROM retired_code ORDER BY code")
            assert [tuple(r) for r in retired] == [(units[0][0], ids[units[0][0]], date(2026, 3, 1), "retired"),
                                                   (units[2][0], ids[units[2][0]], date(2026, 2, 1), "retired")]
            assert {r["unit_id"] for r in await conn.fetch("SELECT unit_id FROM household")} == set(ids.values())
        finally:
            await conn.close()
    finally:
        await drop_database(url)


async def test_the_import_command_imports_a_file_and_prints_the_error_report(registry, infra, tmp_path):
    """`youmin import KIND FILE` as an operator runs it: a good file is imported, a bad one changes nothing and its
    errors are printed with row, field and reason (exit status 1)."""
    import asyncio
    import os
    import sys

    community = await registry.fresh_community()
    env = {**os.environ, "REGISTRY_SERVICE_DATABASE_URL": infra.database_url("registry"), "COLUMNS": "200"}

    async def youmin_import(path) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "youmin.cli", "import", "units", str(path),
                                                    env=env, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(proc.communicate(), 120)
        return proc.returncode, out.decode()

    good = write_csv(tmp_path / "good.csv", ["code", "name", "level"], [[community + "011", "十一网格", "grid"]])
    status, out = await youmin_import(good)
    assert status == 0, out
    assert "1 rows read, 1 created" in out
    assert await count(registry, "SELECT count(*) FROM org_unit WHERE code = $1", community + "011") == 1

    bad = write_csv(tmp_path / "bad.csv", ["code", "name", "level"], [[community + "012", "十二网格", "grid"],
                                                                        [community + "0x3", "坏网格", "grid"]])
    status, out = await youmin_import(bad)
    assert status == 1, out
    assert "1 errors: nothing was imported" in out and "code.malformed" in out and "│ 3 " in out
    assert await count(registry, "SELECT count(*) FROM org_unit WHERE code = $1", community + "012") == 0


async def test_a_row_naming_someone_else_under_a_registered_id_number_is_refused(registry, tmp_path):
    grid = await registry.fresh_grid()
    resident = new_id_number()
    home = f"{grid}00101{1:04d}"
    made = await run(registry, "households", write_csv(tmp_path / "h.csv", HOUSEHOLD_HEADER, [
        [home, "赵六", resident, new_phone(), "", "奎文区某路", "representative"]]))
    assert made.status == "succeeded", made.errors
    header = ["name", "id_number", "role", "scope_code", "household_code"]
    # The clerk meant 王五 and mistyped his ID number as 赵六's: nobody becomes a grid manager.
    mistyped = await run(registry, "people", write_csv(tmp_path / "p.csv", header, [
        ["王五", resident, "grid_manager", grid, ""]]))
    assert mistyped.status == "failed"
    assert [(e.row, e.field) for e in mistyped.errors] == [(2, "id_number")]
    assert mistyped.errors[0].reason.startswith("person.name_mismatch") and "赵六" not in mistyped.errors[0].reason
    grants = ("SELECT count(*) FROM role_grant g JOIN person_personal pp USING (person_id) "
              "WHERE pp.id_number = $1 AND g.role = 'grid_manager'")
    assert await count(registry, grants, resident) == 0
    # Two rows of one file giving one ID number two names are refused as well.
    newcomer = new_id_number()
    split = await run(registry, "people", write_csv(tmp_path / "p2.csv", header, [
        ["孙七", newcomer, "grid_manager", grid, ""], ["孙八", newcomer, "party_member", grid, ""]]))
    assert split.status == "failed" and [(e.row, e.field) for e in split.errors] == [(3, "name")]
    # The same person under their own name is taken as registered, as before.
    right = await run(registry, "people", write_csv(tmp_path / "p3.csv", header, [
        ["赵六", resident, "party_member", grid, ""]]))
    assert right.status == "succeeded", right.errors


async def test_a_spreadsheets_empty_columns_right_of_the_data_are_left_out(registry, tmp_path):
    grid = await registry.fresh_grid()
    home = f"{grid}00101{1:04d}"
    saved = tmp_path / "excel.csv"
    saved.write_text("\ufeff" + ",".join(HOUSEHOLD_HEADER) + ",,\r\n"
                     + f"{home},钱一,{new_id_number()},{new_phone()},,奎文区某路,representative,,\r\n"
                     + ",,,,,,,,\r\n", encoding="utf-8")
    done = await run(registry, "households", saved)
    assert done.status == "succeeded", done.errors
    # A value under a column without a name is not silently dropped.
    stray = tmp_path / "stray.csv"
    stray.write_text(",".join(HOUSEHOLD_HEADER) + ",\r\n"
                     + f"{grid}00101{2:04d},孙二,{new_id_number()},{new_phone()},,奎文区某路,representative,备注\r\n",
                     encoding="utf-8")
    refused = await run(registry, "households", stray)
    assert refused.status == "failed"
    assert [(e.row, e.field) for e in refused.errors] == [(2, "row")]
    assert "no named column" in refused.errors[0].reason
