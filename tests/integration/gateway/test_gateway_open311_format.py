"""Open311 GeoReport v2 at the gateway: service discovery in JSON and XML, and the standard's error format."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import get_args

from gateway.open311 import MOVE_NOTES, REASON_NOTES, SERVICES, to_service_request, to_xml
from services.matters.rules.lifecycle import Action
from services.matters.rules.routing import Category
from services.matters.schemas import ReasonCode
from youmin.kit.names import masked_free_text


def test_one_service_code_per_matter_category():
    assert set(SERVICES) == {c.value for c in Category}
    assert {name for name, _, _ in SERVICES.values()} == {c.label for c in Category}


async def test_services_json_lists_every_category(gateway_app):
    resp = await gateway_app.state.test_client.get("/open311/v2/services.json")
    assert resp.status_code == 200
    codes = {s["service_code"] for s in resp.json()}
    assert codes == set(SERVICES)
    assert all(s["type"] == "realtime" and s["metadata"] is False for s in resp.json())


async def test_services_xml_is_georeport_xml(gateway_app):
    resp = await gateway_app.state.test_client.get("/open311/v2/services.xml")
    assert resp.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(resp.content)
    assert root.tag == "services"
    assert {s.findtext("service_code") for s in root.findall("service")} == set(SERVICES)
    assert root.find("service").findtext("service_name") in {n for n, _, _ in SERVICES.values()}


async def test_service_definition_and_unknown_code(gateway_app):
    client = gateway_app.state.test_client
    ok = await client.get("/open311/v2/services/environmental_sanitation.json")
    assert ok.json() == {"service_code": "environmental_sanitation", "attributes": []}
    missing = await client.get("/open311/v2/services/no_such_thing.json")
    assert missing.status_code == 404
    assert missing.json() == [{"code": 404, "description": "service_code no_such_thing not found"}]
    xml = await client.get("/open311/v2/services/no_such_thing.xml")
    assert ET.fromstring(xml.content).find("error").findtext("code") == "404"


async def test_post_without_api_key_is_refused_in_the_standard_format(gateway_app):
    resp = await gateway_app.state.test_client.post(
        "/open311/v2/requests.json", data={"service_code": "public_safety", "description": "井盖缺失", "lat": "36.7",
                                           "long": "119.1"})
    assert resp.status_code == 400
    assert resp.json()[0]["code"] == 400 and "api_key" in resp.json()[0]["description"]


async def test_post_with_a_bad_api_key_is_403(gateway_app):
    resp = await gateway_app.state.test_client.post(
        "/open311/v2/requests.xml", data={"api_key": "ym_0123456789ab_nope", "service_code": "public_safety",
                                          "description": "井盖缺失", "address_string": "奎文区某路"})
    assert resp.status_code == 403
    assert ET.fromstring(resp.content).find("error").findtext("code") == "403"


async def test_post_of_json_nested_too_deep_to_parse_is_a_standard_400(gateway_app):
    resp = await gateway_app.state.test_client.post("/open311/v2/requests.json", content=b"[" * 100_000,
                                                    headers={"content-type": "application/json"})
    assert resp.status_code == 400
    assert resp.json() == [{"code": 400, "description": "the body could not be parsed"}]


def test_a_public_request_masks_the_names_phones_and_reasons_a_resident_or_clerk_typed():
    matter = {"matter_id": "m1", "status": "open", "state": "returned", "category": "property_management",
              "raised_via": "open311", "description": "3号楼王建国家漏水，联系电话13812345678",
              "timeline": [{"to_state": "returned", "reason": "已联系居民李秀英，她表示同意"}]}
    request = to_service_request(matter)
    assert "王建国" not in request["description"] and "13812345678" not in request["description"]
    assert request["description"].startswith("3号楼王")
    assert "李秀英" not in request["status_notes"]


def test_the_words_of_a_matter_raised_elsewhere_than_by_open311_are_not_shown():
    # No cue word stands beside the name: masking alone would have let it through.
    for via in ("app", "face_to_face", "department", None):
        matter = {"matter_id": "m1", "status": "open", "state": "raised", "category": "property_management",
                  "raised_via": via, "title": "王建国门前积水", "description": "邻居王建国天天在3号楼门口堆杂物"}
        request = to_service_request(matter)
        assert request["description"] is None and request["service_name"] == SERVICES["property_management"][0]


def test_a_control_character_in_a_text_leaves_the_xml_listing_well_formed():
    # Pasted from a word processor: a vertical tab and a unit separator, beside characters XML escapes.
    rows = [{"service_request_id": "1", "description": "井盖\x0b缺失 <急>\x1f & 待修", "status_notes": None}]
    root = ET.fromstring(to_xml("service_requests", "request", rows))
    assert root.find("request").findtext("description") == "井盖\ufffd缺失 <急>\ufffd & 待修"


async def test_post_with_a_blank_description_is_refused(gateway_app):
    resp = await gateway_app.state.test_client.post(
        "/open311/v2/requests.json", data={"api_key": "k", "service_code": "public_safety", "description": "   ",
                                           "address_string": "奎文区某路"})
    assert resp.status_code == 400 and "description" in resp.json()[0]["description"]


async def test_post_without_a_location_is_refused(gateway_app):
    resp = await gateway_app.state.test_client.post(
        "/open311/v2/requests.json", data={"api_key": "k", "service_code": "public_safety", "description": "x"})
    assert resp.status_code == 400
    assert "location" in resp.json()[0]["description"]


async def test_unknown_format_and_bad_filters_are_standard_errors(gateway_app):
    client = gateway_app.state.test_client
    assert (await client.get("/open311/v2/services.csv")).status_code == 404
    bad = await client.get("/open311/v2/requests.json", params={"status": "maybe"})
    assert bad.status_code == 400 and bad.json()[0]["code"] == 400
    dates = await client.get("/open311/v2/requests.json", params={"start_date": "2026-02-01T00:00:00Z",
                                                                  "end_date": "2026-01-01T00:00:00Z"})
    assert dates.status_code == 400
    for params in ({"start_date": "2024-01-01T00:00:00Z", "end_date": "2024-02-01T00:00:00"},
                   {"start_date": "2024-01-01T00:00:00"}, {"end_date": "0001-01-01T00:00:00+14:00"}):
        odd = await client.get("/open311/v2/requests.json", params=params)
        assert odd.status_code == 400 and odd.json()[0]["code"] == 400, (params, odd.text)


MATTER = {"matter_id": "0b6f3c52-8a59-4c1e-9d7e-1f2a3b4c5d6e", "status": "closed", "state": "rejected",
          "stage": {"code": "raised", "title": "居民提出"}, "category": "public_safety", "description": "井盖缺失",
          "unit_code": "370705001", "created_at": "2026-11-30T08:00:00+08:00"}


def test_status_notes_name_the_move_into_the_current_state_and_its_reason_code_not_staffs_words():
    timeline = [{"to_state": "raised", "action": "raise", "reason": None},
                {"to_state": "rejected", "action": "reject", "reason": "已联系王建国，下周维修", "reason_code": "out_of_scope"}]
    row = to_service_request(MATTER | {"timeline": timeline})
    assert row["status"] == "closed"
    assert row["status_notes"] == "不予受理：" + REASON_NOTES["out_of_scope"]
    timeline[-1]["reason_code"] = None
    assert to_service_request(MATTER | {"timeline": timeline})["status_notes"] == "不予受理"


def test_a_bare_name_in_staffs_reason_appears_nowhere_in_the_public_request():
    # No cue word stands beside the name: masking alone lets it through, so the words are not shown at all.
    assert masked_free_text("已联系王建国，下周维修") == "已联系王建国，下周维修"
    for via in ("open311", "app"):
        matter = MATTER | {"state": "implementing", "status": "open", "raised_via": via, "timeline": [
            {"to_state": "implementing", "action": "start_implementation", "reason": "已联系王建国，下周维修"},
            # A side note (no change of status) after the move is passed over, its words too.
            {"to_state": "implementing", "action": "flags_changed", "reason": "王建国要求列为重点"}]}
        row = to_service_request(matter)
        assert row["status_notes"] == "实施中"
        assert "王建国" not in json.dumps(row, ensure_ascii=False)
        assert "王建国" not in to_xml("service_requests", "request", [row])


def test_every_move_and_reason_code_has_its_public_words():
    assert set(MOVE_NOTES) == {a.value for a in Action} - {Action.PLACE.value}
    assert set(REASON_NOTES) == set(get_args(ReasonCode))


def test_status_notes_fall_back_to_the_stage_without_a_reason_for_the_current_state():
    # An older reason (of a state the matter has left) is not the reason for the current status.
    stale = [{"to_state": "accepted", "reason": "受理"}, {"to_state": "rejected", "reason": None}]
    assert to_service_request(MATTER | {"timeline": stale})["status_notes"] == "居民提出"
    assert to_service_request(MATTER)["status_notes"] == "居民提出"  # a list read carries no timeline
    assert to_service_request(MATTER | {"stage": None})["status_notes"] == "rejected"


async def test_an_end_date_within_ninety_days_of_the_first_instant_is_searched_from_that_instant(gateway_app):
    # The default start (90 days before the end) would fall before year 1: the search starts at the first instant.
    # The matters service is unreachable here: the search gets as far as asking it (a 502/503), not a 500.
    resp = await gateway_app.state.test_client.get("/open311/v2/requests.json",
                                                   params={"end_date": "0001-01-02T00:00:00Z"})
    assert resp.status_code in (502, 503) and resp.json()[0]["code"] == resp.status_code, resp.text
