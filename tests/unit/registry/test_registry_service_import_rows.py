"""The importer's pure row checks and helpers (no database)."""

from __future__ import annotations

from datetime import date

import pytest

from services.registry import importer
from services.registry.bulk import outbox_insert_sql
from services.registry.events import ResidencyChanged
from youmin.kit.pii import id_check_char

AS_OF = date(2026, 11, 1)
HOUSEHOLD = "370705001001001001010101"


def id_number(birth: str = "19800101") -> str:
    body = f"370705{birth}123"
    return body + id_check_char(body)


def member(**overrides) -> dict[str, str]:
    row = {"household_code": HOUSEHOLD, "name": "张三", "id_number": id_number(), "phone": "13812345678",
           "birth_date": "", "address": "", "role_in_household": "representative"}
    return {**row, **overrides}


def check(fn, record):
    rows = importer._Rows()
    return fn(rows, 7, record, AS_OF), [(e.row, e.field, e.reason.split(":")[0]) for e in rows.errors]


def test_good_member_row_gives_its_birth_date_and_adulthood():
    record, errors = check(importer.check_member_row, member())
    assert errors == []
    assert record[5] == date(1980, 1, 1) and record[7] is True


def test_child_member_is_not_an_adult():
    record, _ = check(importer.check_member_row, member(id_number=id_number("20150601"), phone=""))
    assert record[7] is False


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"household_code": HOUSEHOLD[:-1]}, "household_code", "code.malformed"),
        ({"household_code": "370705001001001"}, "household_code", "code.level_mismatch"),
        ({"household_code": "370705001001001001010000"}, "household_code", "code.segment_out_of_range"),
        ({"id_number": id_number()[:-1] + "X"}, "id_number", "check character does not match"),
        ({"phone": "12812345678"}, "phone", "must be an 11-digit mainland mobile number starting 13-19"),
        ({"birth_date": "1981-01-01"}, "birth_date", "does not match the birth date in the ID number"),
        ({"name": ""}, "name", "required"),
        ({"role_in_household": "boss"}, "role_in_household", "must be one of representative, proxy, member"),
    ],
)
def test_bad_member_row_is_reported_with_its_row_and_field(overrides, field, reason):
    record, errors = check(importer.check_member_row, member(**overrides))
    assert record is None
    assert errors == [(7, field, reason)]


def test_person_row_refuses_a_role_at_the_wrong_level_and_the_certified_flag_off_community_workers():
    base = {"name": "李四", "id_number": id_number(), "role": "grid_manager", "scope_code": "370705001001",
            "certified_social_worker": "", "from_organisation": ""}
    assert check(importer.check_person_row, base)[1] == [(7, "scope_code", "role.scope_level")]
    flagged = {**base, "scope_code": "370705001001001", "certified_social_worker": "yes"}
    assert check(importer.check_person_row, flagged)[1] == [(7, "certified_social_worker",
                                                            "only community workers carry the certified flag")]


def test_resident_role_is_not_imported():
    row = {"name": "王五", "id_number": id_number(), "role": "resident", "scope_code": HOUSEHOLD}
    assert check(importer.check_person_row, row)[1] == [(7, "role", "role.implicit")]


def test_uuid7_values_increase_and_carry_version_7():
    values = [importer.uuid7() for _ in range(1000)]
    assert values == sorted(values)
    assert {v.version for v in values} == {7}


def test_bulk_event_sql_builds_the_data_from_the_event_fields_and_keys_by_the_key_field():
    sql = outbox_insert_sql(ResidencyChanged, "SELECT 1")
    assert "'person_id', e.person_id" in sql and "'adult', e.adult" in sql
    assert "e.person_id::text" in sql and "'registry.people'" in sql and ResidencyChanged.type in sql
