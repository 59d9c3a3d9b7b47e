"""Statistics per scope and period on a known data set."""

from __future__ import annotations

from datetime import UTC, datetime

MARCH = {"period_start": "2026-03-01T00:00:00+08:00", "period_end": "2026-04-01T00:00:00+08:00"}


async def test_statistics_on_a_known_data_set_with_the_previous_period(h):
    place = await h.place()
    staff = h.staff("street_staff", place.street)

    async def opened(at: datetime, dispute_type: str) -> dict:
        h.clock.set(at)
        case = await h.open_case(place, staff, dispute_type=dispute_type)
        return await h.consent_all(case, staff)

    # 30 January lies in the 31 days before March, not in February: in neither period.
    await opened(datetime(2026, 1, 30, 1, tzinfo=UTC), "family")
    # Previous period (February, the month before March): one neighbour case agreed at the grid in a day.
    prev = await opened(datetime(2026, 2, 10, 1, tzinfo=UTC), "neighbour")
    h.clock.advance(days=1)
    await h.post(prev["id"], "agreements", {"kind": "oral", "terms": "t", **h.assent(prev)}, staff)

    # March: agreed at the grid after 2 days; escalated then agreed in writing at the community after 4 days.
    first = await opened(datetime(2026, 3, 2, 1, tzinfo=UTC), "neighbour")
    second = await opened(datetime(2026, 3, 2, 1, tzinfo=UTC), "family")
    h.clock.set(datetime(2026, 3, 3, 1, tzinfo=UTC))
    await h.post(second["id"], "escalation", {"reason": "r"}, staff)
    h.clock.set(datetime(2026, 3, 4, 1, tzinfo=UTC))
    await h.post(first["id"], "agreements", {"kind": "oral", "terms": "t", **h.assent(first)}, staff)
    h.clock.set(datetime(2026, 3, 6, 1, tzinfo=UTC))
    parties = [p["party_id"] for p in second["parties"]]
    resp = await h.post(second["id"], "agreements", {"kind": "written", "terms": "t", "signed_party_ids": parties,
                                                     "mediator_signed": True}, staff)
    assert resp.status_code == 201, resp.text
    # March: a neighbour case refused, a labour case referred.
    h.clock.set(datetime(2026, 3, 5, 1, tzinfo=UTC))
    refused = await h.open_case(place, staff, dispute_type="neighbour")
    await h.post(refused["id"], "consents", {"party_id": refused["parties"][0]["party_id"], "decision": "refused"}, staff)
    referred = await h.open_case(place, staff, dispute_type="labour")
    await h.post(referred["id"], "referral", {"route": "arbitration"}, staff)
    # April: outside the period.
    h.clock.set(datetime(2026, 4, 1, 0, tzinfo=UTC))
    await h.open_case(place, staff)

    resp = await h.client.get("/api/v1/mediation/statistics", params={"scope": place.street, **MARCH}, headers=staff)
    assert resp.status_code == 200, resp.text
    stats = resp.json()
    assert stats["current"] == {
        "opened": 4, "resolved": 2, "resolved_by_level": {"grid": 1, "community": 1, "street": 0, "district": 0},
        "resolution_rate": 0.5, "median_days_to_resolve": 3.0, "escalations": 1, "referrals": 1, "terminated": 1,
    }
    assert stats["by_type"]["neighbour"]["opened"] == 2
    assert stats["by_type"]["neighbour"]["median_days_to_resolve"] == 2.0
    assert stats["by_type"]["labour"]["referrals"] == 1
    assert stats["by_type"]["contract"]["opened"] == 0
    assert stats["previous"]["opened"] == 1 and stats["previous"]["median_days_to_resolve"] == 1.0
    assert stats["change"]["opened"] == 3
    assert stats["change"]["resolution_rate"] == -0.5
    assert stats["change"]["median_days_to_resolve"] == 2.0


async def test_statistics_of_another_scope_do_not_count_these_cases(h):
    place = await h.place()
    await h.open_case(place)
    resp = await h.client.get("/api/v1/mediation/statistics", params={"scope": place.other_grid, **MARCH},
                              headers=h.staff("district_staff", place.district))
    assert resp.json()["current"]["opened"] == 0


async def test_statistics_with_a_period_ending_before_it_starts_is_a_422(h):
    resp = await h.client.get("/api/v1/mediation/statistics", params={
        "scope": "370705", "period_start": "2026-04-01T00:00:00+00:00", "period_end": "2026-03-01T00:00:00+00:00"})
    assert resp.status_code == 422 and resp.json()["field"] == "period_end"


async def test_statistics_without_a_time_zone_is_a_422(h):
    resp = await h.client.get("/api/v1/mediation/statistics", params={
        "scope": "370705", "period_start": "2026-03-01T00:00:00", "period_end": "2026-04-01T00:00:00+00:00"})
    assert resp.status_code == 422 and resp.json()["field"] == "period_start"


async def test_statistics_for_a_period_outside_the_storable_years_is_a_422(h):
    resp = await h.client.get("/api/v1/mediation/statistics", params={
        "scope": "370705", "period_start": "0001-01-01T00:00:00+14:00", "period_end": "2026-03-01T00:00:00+00:00"})
    assert resp.status_code == 422 and resp.json()["field"] == "period_start", resp.text
    resp = await h.client.get("/api/v1/mediation/cases", params={"before": "0001-01-01T00:00:00+14:00"},
                              headers=h.staff("community_staff", "370705001001"))
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "before", resp.text


async def test_statistics_scope_takes_ascii_digits_only(h):
    resp = await h.client.get("/api/v1/mediation/statistics", params={"scope": "３７０７０５", **MARCH})
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "scope", resp.text


async def test_statistics_go_down_to_a_grid_and_no_further(h):
    place = await h.place()
    for code in (place.grid + "001", place.grid + "00101"):  # a building, a building unit
        resp = await h.client.get("/api/v1/mediation/statistics", params={"scope": code, **MARCH})
        assert resp.status_code == 422, resp.text
        assert resp.json().get("rule") == "mediation.statistics_too_fine", resp.text
        assert resp.json()["field"] == "scope"
    # A grid's are for the staff who supervise it: a grid sees about one dispute a month.
    public = await h.client.get("/api/v1/mediation/statistics", params={"scope": place.grid, **MARCH},
                                headers=h.staff("resident", place.grid + "00101"))
    assert public.status_code == 422 and public.json()["rule"] == "mediation.statistics_grid_for_staff", public.text
    assert (await h.client.get("/api/v1/mediation/statistics", params={"scope": place.grid, **MARCH},
                               headers=h.staff("grid_manager", place.grid))).status_code == 200


async def test_statistics_cover_whole_months_of_china_standard_time(h):
    place = await h.place()
    await h.open_case(place)
    url = "/api/v1/mediation/statistics"
    for start, end, field in (("2026-03-01T09:00:00+08:00", "2026-03-01T09:01:00+08:00", "period_start"),  # a minute
                              ("2026-03-01T00:00:00+08:00", "2026-03-28T23:59:59+08:00", "period_end"),
                              # March shifted by an hour: subtracted from March, it would tell that hour's cases
                              ("2026-03-01T01:00:00+08:00", "2026-04-01T01:00:00+08:00", "period_start"),
                              ("2026-03-01T00:00:00+00:00", "2026-04-01T00:00:00+00:00", "period_start")):
        resp = await h.client.get(url, params={"scope": place.community, "period_start": start, "period_end": end})
        assert resp.status_code == 422, resp.text
        assert (resp.json()["rule"], resp.json()["field"]) == ("mediation.statistics_whole_months", field)
    for start, end in (("2026-02-01T00:00:00+08:00", "2026-03-01T00:00:00+08:00"),  # a month
                       ("2026-01-01T00:00:00+08:00", "2026-04-01T00:00:00+08:00"),  # a quarter
                       ("2026-02-28T16:00:00+00:00", "2026-03-31T16:00:00+00:00")):  # March, written in UTC
        ok = await h.client.get(url, params={"scope": place.community, "period_start": start, "period_end": end})
        assert ok.status_code == 200, ok.text


async def test_the_public_reads_no_median_of_fewer_than_three_resolutions(h):
    place = await h.place()
    staff = h.staff("street_staff", place.street)
    h.clock.set(datetime(2026, 3, 2, 1, tzinfo=UTC))
    case = await h.consent_all(await h.open_case(place, staff), staff)
    h.clock.set(datetime(2026, 3, 4, 1, tzinfo=UTC))
    await h.post(case["id"], "agreements", {"kind": "oral", "terms": "t", **h.assent(case)}, staff)
    as_public = (await h.client.get("/api/v1/mediation/statistics", params={"scope": place.community, **MARCH})).json()
    as_staff = (await h.client.get("/api/v1/mediation/statistics", params={"scope": place.community, **MARCH},
                                   headers=staff)).json()
    # One resolution: its days to resolve are that case's.
    assert as_staff["current"]["median_days_to_resolve"] == 2.0
    assert as_public["current"]["median_days_to_resolve"] is None
    assert as_public["current"]["resolved"] == as_staff["current"]["resolved"] == 1
    assert as_public["change"]["median_days_to_resolve"] is None
