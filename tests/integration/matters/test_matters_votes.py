"""Votes through the API: the frozen electorate, rule boundaries, households and proxies, concurrency, secrecy."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, timedelta

from services.matters.scheduler import close_due_votes
from services.registry import events as reg
from youmin.kit.calendar import LOCAL_TZ
from youmin.testing import eventually


async def _community_with_adults(matters, count: int) -> tuple[str, list[tuple[str, str]]]:
    """A fresh community with `count` adults, one per household; returns (community, [(person, household)])."""
    community = matters.new_community()
    households, events = matters.households_events(community, count)
    await matters.seed(*events)
    return community, [(h.representative, h.code) for h in households]


async def _open_vote(matters, community: str, *, title: str = "更换小区大门", **vote) -> tuple[str, dict]:
    matter = await matters.raise_matter(community, title=title)
    await matters.move(matter["matter_id"], community, "accept", "route")
    resp = await matters.client.post(f"/api/v1/matters/{matter['matter_id']}/votes", json=vote, headers=matters.staff(community))
    assert resp.status_code == 201, resp.text
    return matter["matter_id"], resp.json()


async def _cast(matters, vote_id: str, person: str, home: str, choice: str, **extra):
    return await matters.client.post(f"/api/v1/matters/votes/{vote_id}/ballots", json={"choice": choice, **extra},
                                     headers=matters.resident(person, home))


async def _online_totals(matters, vote_id: str) -> tuple[int, int, int]:
    """The vote's online (for, against, abstain): its totals and what still waits in its ballot box."""
    rows = await matters.sql(
        "SELECT coalesce(sum(f), 0) AS f, coalesce(sum(a), 0) AS a, coalesce(sum(s), 0) AS s FROM ("
        " SELECT votes_for AS f, votes_against AS a, abstain AS s FROM vote_online_count WHERE vote_id = :v"
        " UNION ALL SELECT (choice = 'for')::int, (choice = 'against')::int, (choice = 'abstain')::int"
        " FROM ballot_box WHERE vote_id = :v) t", v=vote_id)
    return int(rows[0].f), int(rows[0].a), int(rows[0].s)


async def _close(matters, community: str, vote_id: str) -> dict:
    resp = await matters.client.post(f"/api/v1/matters/votes/{vote_id}/close", headers=matters.staff(community))
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_opening_a_vote_freezes_the_adults_of_the_community_as_its_base(matters):
    community, voters = await _community_with_adults(matters, 3)
    matter_id, vote = await _open_vote(matters, community)
    assert (vote["base_size"], vote["rule_version"], vote["status"]) == (3, "urcol-2018", "open")
    detail = (await matters.client.get(f"/api/v1/matters/{matter_id}", headers=matters.staff(community))).json()
    assert detail["state"] == "deciding" and detail["vote_ids"] == [vote["vote_id"]]
    # While the vote is open, closing it decides the matter: staff are not offered a decision by hand.
    assert not {"decide", "fail_decision", "withdraw"} & set(detail["allowed_actions"]), detail["allowed_actions"]


async def test_a_resident_added_after_opening_is_not_in_the_frozen_electorate(matters):
    community, _ = await _community_with_adults(matters, 2)
    _, vote = await _open_vote(matters, community)
    late, events = matters.households_events(community, 1, start=50)
    await matters.seed(*events)
    resp = await _cast(matters, vote["vote_id"], late[0].representative, late[0].code, "for")
    assert resp.status_code == 422 and resp.json()["rule"] == "vote.not_in_electorate"


async def test_exactly_half_present_is_not_a_quorum(matters):
    community, voters = await _community_with_adults(matters, 4)
    matter_id, vote = await _open_vote(matters, community)
    for person, home in voters[:2]:
        assert (await _cast(matters, vote["vote_id"], person, home, "for")).status_code == 201
    result = await _close(matters, community, vote["vote_id"])
    assert (result["quorum_met"], result["passed"], result["present"], result["votes_for"]) == (False, False, 2, 2)
    detail = (await matters.client.get(f"/api/v1/matters/{matter_id}", headers=matters.staff(community))).json()
    assert detail["state"] == "not_passed" and detail["timeline"][-1]["reason_code"] == "vote.no_quorum"


async def test_one_more_than_half_present_makes_a_quorum(matters):
    community, voters = await _community_with_adults(matters, 4)
    _, vote = await _open_vote(matters, community)
    for person, home in voters[:3]:
        await _cast(matters, vote["vote_id"], person, home, "for")
    result = await _close(matters, community, vote["vote_id"])
    assert (result["quorum_met"], result["passed"]) == (True, True)


async def test_a_tie_does_not_pass(matters):
    community, voters = await _community_with_adults(matters, 6)
    matter_id, vote = await _open_vote(matters, community)
    for (person, home), choice in zip(voters, ["for", "for", "against", "against"]):
        await _cast(matters, vote["vote_id"], person, home, choice)
    result = await _close(matters, community, vote["vote_id"])
    assert (result["quorum_met"], result["passed"], result["votes_for"], result["votes_against"]) == (True, False, 2, 2)
    published = await matters.events_of(matter_id)
    decided = [d for t, d in published if t == "gov.youmin.matters.matter.decided.v1"]
    assert decided and decided[0]["passed"] is False and decided[0]["rule_version"] == "urcol-2018"
    assert decided[0]["base_size"] == 6 and decided[0]["present"] == 4


async def test_a_major_matter_needs_two_thirds_of_those_present(matters):
    community, voters = await _community_with_adults(matters, 6)
    _, vote = await _open_vote(matters, community, rule_version="urcol-2018-major")
    for (person, home), choice in zip(voters, ["for", "for", "for", "against", "against"]):
        await _cast(matters, vote["vote_id"], person, home, choice)
    result = await _close(matters, community, vote["vote_id"])
    assert (result["quorum_met"], result["passed"], result["rule_version"]) == (True, False, "urcol-2018-major")


async def test_the_decided_event_carries_a_redacted_title(matters):
    community, voters = await _community_with_adults(matters, 1)
    matter_id, vote = await _open_vote(matters, community, title="更换门禁")
    await _cast(matters, vote["vote_id"], *voters[0], "for")
    await matters.client.post(f"/api/v1/matters/votes/{vote['vote_id']}/close", headers=matters.staff(community),
                              json={"public_title": "为王秀英老人家门口加装扶手，联系13812345678"})
    decided = [d for t, d in await matters.events_of(matter_id) if t.endswith("decided.v1")][0]
    assert decided["passed"] is True
    # No name goes on the bus either: the board's title is masked before the event is written.
    assert "13812345678" not in decided["public_title"] and "王秀英" not in decided["public_title"]
    assert decided["public_title"].startswith("为王")


async def test_a_household_vote_is_cast_by_a_recorded_proxy_and_counts_once(matters):
    community = matters.new_community()
    await matters.client.put(f"/api/v1/matters/templates/communities/{community}",
                             json={"template_code": "nanhu-household-decision"}, headers=matters.staff(community))
    home = matters.household(community, 1)
    representative, proxy, member = (str(uuid.uuid4()) for _ in range(3))
    await matters.seed(
        *[reg.ResidencyChanged(person_id=p, household_code=home, adult=True, effective_on=date(2026, 11, 1))
          for p in (representative, proxy, member)],
        reg.HouseholdRepresentativeSet(household_code=home, representative_person_id=representative,
                                       proxy_person_ids=[proxy], effective_on=date(2026, 11, 1)),
    )
    _, vote = await _open_vote(matters, community)
    assert (vote["rule_version"], vote["base_size"]) == ("household-2018", 1)
    # The proxy's app finds the vote waiting for them, and the member's does not list it.
    # The proxy lives elsewhere (their token's home is another community's).
    elsewhere = matters.household(matters.new_community(), 7)
    mine = (await matters.client.get("/api/v1/matters/votes/mine", headers=matters.resident(proxy, elsewhere))).json()
    assert [(v["vote_id"], v["yours"]) for v in mine] == [(vote["vote_id"], [{"household_code": home, "cast": False}])]
    assert (await matters.client.get("/api/v1/matters/votes/mine", headers=matters.resident(member, home))).json() == []
    away = matters.resident(proxy, elsewhere)
    by_proxy = await matters.client.post(f"/api/v1/matters/votes/{vote['vote_id']}/ballots", json={"choice": "for"},
                                         headers=away)
    assert by_proxy.status_code == 201 and by_proxy.json()["voter_key"] == home
    # From where they live, the proxy reads what they voted on, the vote, and their receipt.
    seen = await matters.client.get(f"/api/v1/matters/votes/{vote['vote_id']}", headers=away)
    assert seen.status_code == 200 and seen.json()["yours"] == [{"household_code": home, "cast": True}], seen.text
    assert (await matters.client.get(f"/api/v1/matters/{seen.json()['matter_id']}", headers=away)).status_code == 200
    receipt = await matters.client.get(
        f"/api/v1/matters/votes/{vote['vote_id']}/receipts/{by_proxy.json()['receipt']}", headers=away)
    assert receipt.status_code == 200 and receipt.json()["counted"] is True
    # Someone else of that other community does not.
    neighbour = matters.resident(str(uuid.uuid4()), elsewhere)
    assert (await matters.client.get(f"/api/v1/matters/votes/{vote['vote_id']}", headers=neighbour)).status_code == 404
    again = await _cast(matters, vote["vote_id"], representative, home, "against")
    assert again.status_code == 409 and again.json()["rule"] == "vote.already_cast"
    read = await matters.client.get(f"/api/v1/matters/votes/{vote['vote_id']}",
                                    headers=matters.resident(representative, home))
    assert read.json()["yours"] == [{"household_code": home, "cast": True}]  # the proxy cast the household's vote
    not_holder = await _cast(matters, vote["vote_id"], member, home, "for")
    assert not_holder.status_code == 422 and not_holder.json()["rule"] == "vote.not_in_electorate"
    result = await _close(matters, community, vote["vote_id"])
    assert (result["votes_for"], result["votes_against"], result["passed"]) == (1, 0, True)


async def test_a_household_vote_follows_a_change_of_representative_and_counts_only_households_with_an_adult(matters):
    community = matters.new_community()
    await matters.client.put(f"/api/v1/matters/templates/communities/{community}",
                             json={"template_code": "nanhu-household-decision"}, headers=matters.staff(community))
    home, child_home = matters.household(community, 1), matters.household(community, 2)
    first, second, child = (str(uuid.uuid4()) for _ in range(3))
    await matters.seed(
        *[reg.ResidencyChanged(person_id=p, household_code=home, adult=True, effective_on=date(2026, 11, 1))
          for p in (first, second)],
        reg.ResidencyChanged(person_id=child, household_code=child_home, adult=False, effective_on=date(2026, 11, 1)),
        reg.HouseholdRepresentativeSet(household_code=home, representative_person_id=first, proxy_person_ids=[],
                                       effective_on=date(2026, 11, 1)),
    )
    _, vote = await _open_vote(matters, community)
    assert vote["base_size"] == 1  # nobody in the second household can attend a residents' meeting
    # The household names another representative while the vote is open: the new one casts its vote, not the old.
    from services.matters.consumers import REPRESENTATIVE_SET, consumers
    from youmin.kit.db import transaction
    from youmin.kit.events import Envelope, decode_record

    [replica_spec] = consumers(matters.settings)
    env = Envelope.of(reg.HouseholdRepresentativeSet(household_code=home, representative_person_id=second,
                                                     proxy_person_ids=[], effective_on=date(2026, 11, 20)))
    async with transaction(matters.app.state.sessions) as session:  # as the matters-replica consumer applies it
        await replica_spec.handlers[REPRESENTATIVE_SET](session, decode_record(env.headers(), env.key.encode(),
                                                                              env.value()))
    removed = await _cast(matters, vote["vote_id"], first, home, "against")
    assert removed.status_code == 422 and removed.json()["rule"] == "vote.not_in_electorate", removed.text
    named = await _cast(matters, vote["vote_id"], second, home, "for")
    assert named.status_code == 201, named.text
    result = await _close(matters, community, vote["vote_id"])
    assert (result["quorum_met"], result["votes_for"], result["passed"]) == (True, 1, True)


async def test_fifty_concurrent_double_votes_count_once_per_voter(matters):
    community, voters = await _community_with_adults(matters, 25)
    _, vote = await _open_vote(matters, community)
    attempts = [_cast(matters, vote["vote_id"], person, home, "for") for person, home in voters for _ in range(2)]
    responses = await asyncio.gather(*attempts)
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] * 25 + [409] * 25
    counted = await matters.sql("SELECT count(*) AS n FROM ballot_receipt WHERE vote_id = :v", v=vote["vote_id"])
    assert counted[0].n == 25
    assert await _online_totals(matters, vote["vote_id"]) == (25, 0, 0)
    result = await _close(matters, community, vote["vote_id"])
    assert (result["present"], result["votes_for"]) == (25, 25)


async def test_a_ballot_waiting_for_a_closing_tally_finds_the_vote_closed_and_counts_nothing(matters):
    # A ballot's one statement takes the vote's lock before it reads the vote: one that comes while the close holds the
    # lock reads the vote as the close left it, not as it was when the statement began.
    community, voters = await _community_with_adults(matters, 3)
    _, vote = await _open_vote(matters, community)
    person, home = voters[0]
    async with matters.app.state.engine.connect() as conn:
        closing = (await conn.get_raw_connection()).driver_connection
        async with closing.transaction():  # what a close does first: the vote's lock, alone, then its status
            await closing.execute("SELECT pg_advisory_xact_lock(hashtext('matters.vote:' || $1))", vote["vote_id"])
            await closing.execute("UPDATE vote SET status = 'closed' WHERE vote_id = $1", uuid.UUID(vote["vote_id"]))
            casting = asyncio.create_task(_cast(matters, vote["vote_id"], person, home, "for"))
            await eventually(lambda: matters.sql(
                "SELECT 1 FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE d.datname = current_database()"
                " AND l.locktype = 'advisory' AND NOT l.granted"), timeout=30)
            assert not casting.done()
    refused = await casting
    assert refused.status_code == 422 and refused.json()["rule"] == "vote.window_closed", refused.text
    assert await matters.sql("SELECT 1 FROM ballot WHERE vote_id = :v", v=vote["vote_id"]) == []
    assert await _online_totals(matters, vote["vote_id"]) == (0, 0, 0)


async def test_fifty_concurrent_votes_from_one_household_count_once(matters):
    community = matters.new_community()
    home = matters.household(community, 1)
    holders = [str(uuid.uuid4()) for _ in range(50)]
    await matters.seed(reg.HouseholdRepresentativeSet(household_code=home, representative_person_id=holders[0],
                                                      proxy_person_ids=holders[1:], effective_on=date(2026, 11, 1)))
    _, vote = await _open_vote(matters, community, rule_version="household-2018")
    responses = await asyncio.gather(*[_cast(matters, vote["vote_id"], p, home, "for") for p in holders])
    assert sorted(r.status_code for r in responses) == [201] + [409] * 49
    counted = await matters.sql("SELECT count(*) AS n FROM ballot_receipt WHERE vote_id = :v", v=vote["vote_id"])
    assert counted[0].n == 1
    assert await _online_totals(matters, vote["vote_id"]) == (1, 0, 0)


async def test_a_secret_ballot_stores_participation_apart_from_the_choice(matters):
    community, voters = await _community_with_adults(matters, 3)
    _, vote = await _open_vote(matters, community, secret=True)
    receipts = []
    for (person, home), choice in zip(voters, ["for", "against", "for"]):
        resp = await _cast(matters, vote["vote_id"], person, home, choice)
        receipts.append(resp.json()["receipt"])
    participation = await matters.sql("SELECT voter_key, choice, receipt_digest FROM ballot WHERE vote_id = :v", v=vote["vote_id"])
    assert {r.voter_key for r in participation} == {p for p, _ in voters}
    assert all(r.choice is None and r.receipt_digest is None for r in participation)
    receipts_stored = await matters.sql("SELECT choice FROM ballot_receipt WHERE vote_id = :v", v=vote["vote_id"])
    assert len(receipts_stored) == 3 and all(r.choice is None for r in receipts_stored)
    # The service's mixer empties the box within moments. Then no stored row holds one voter's choice, nor was any
    # written by a voter's transaction: nothing to join to the participation rows by key, by the writing
    # transaction (xmin) or by physical order.
    async def mixed():
        return await matters.sql("SELECT 1 FROM ballot_box WHERE vote_id = :v", v=vote["vote_id"]) == []

    assert await eventually(mixed, timeout=30)
    joined = await matters.sql(
        "SELECT b.voter_key FROM ballot b JOIN vote_online_count c ON c.vote_id = b.vote_id"
        " AND c.xmin::text = b.xmin::text WHERE b.vote_id = :v", v=vote["vote_id"])
    assert joined == []
    assert await _online_totals(matters, vote["vote_id"]) == (2, 1, 0)
    tables = await matters.sql(
        "SELECT table_name FROM information_schema.columns WHERE column_name = 'choice' AND table_schema = 'public'"
        " AND table_name NOT IN ('ballot', 'ballot_receipt', 'ballot_box')")
    assert [t.table_name for t in tables] == []
    check = await matters.client.get(f"/api/v1/matters/votes/{vote['vote_id']}/receipts/{receipts[1]}",
                                     headers=matters.resident(*voters[1]))
    # The receipt proves the ballot counted, not how it went (no one can be made to show their choice).
    assert check.json()["counted"] is True and check.json()["choice"] is None
    forged = await matters.client.get(f"/api/v1/matters/votes/{vote['vote_id']}/receipts/not-a-real-receipt",
                                      headers=matters.resident(*voters[1]))
    assert forged.json()["counted"] is False
    result = await _close(matters, community, vote["vote_id"])
    assert (result["votes_for"], result["votes_against"]) == (2, 1)


async def test_an_open_ballot_keeps_the_choice_with_the_participation(matters):
    community, voters = await _community_with_adults(matters, 1)
    _, vote = await _open_vote(matters, community, secret=False)
    cast = await _cast(matters, vote["vote_id"], *voters[0], "abstain")
    rows = await matters.sql("SELECT choice FROM ballot WHERE vote_id = :v", v=vote["vote_id"])
    assert [r.choice for r in rows] == ["abstain"]
    check = await matters.client.get(f"/api/v1/matters/votes/{vote['vote_id']}/receipts/{cast.json()['receipt']}",
                                     headers=matters.resident(*voters[0]))
    assert check.json() == {"vote_id": vote["vote_id"], "vote_status": "open", "counted": True, "choice": "abstain"}


async def test_offline_ballots_count_with_online_ones_and_never_twice(matters):
    community, voters = await _community_with_adults(matters, 5)
    _, vote = await _open_vote(matters, community)
    await _cast(matters, vote["vote_id"], *voters[0], "for")
    url = f"/api/v1/matters/votes/{vote['vote_id']}/offline-tallies"
    twice = await matters.client.post(url, headers=matters.staff(community), json={
        "votes_for": 2, "votes_against": 0, "abstain": 0, "sign_in_ref": "签到表-1",
        "attendee_keys": [voters[0][0], voters[1][0]]})
    assert twice.status_code == 422 and twice.json()["rule"] == "vote.offline_attendee_already_voted"
    mismatch = await matters.client.post(url, headers=matters.staff(community), json={
        "votes_for": 3, "votes_against": 0, "abstain": 0, "sign_in_ref": "签到表-1", "attendee_keys": [voters[1][0]]})
    assert mismatch.status_code == 422 and mismatch.json()["rule"] == "vote.offline_tally_mismatch"
    ok = await matters.client.post(url, headers=matters.staff(community), json={
        "votes_for": 1, "votes_against": 1, "abstain": 0, "sign_in_ref": "签到表-1",
        "attendee_keys": [voters[1][0], voters[2][0]]})
    assert ok.status_code == 201, ok.text
    late_online = await _cast(matters, vote["vote_id"], *voters[1], "for")
    assert late_online.status_code == 409
    result = await _close(matters, community, vote["vote_id"])
    assert (result["present"], result["votes_for"], result["votes_against"], result["quorum_met"]) == (3, 2, 1, True)


async def test_a_sign_in_sheet_longer_than_a_statements_parameters_is_checked_not_a_500(matters):
    community, voters = await _community_with_adults(matters, 2)
    _, vote = await _open_vote(matters, community)
    keys = [voters[0][0], *(f"visitor-{n}" for n in range(40_000))]
    resp = await matters.client.post(f"/api/v1/matters/votes/{vote['vote_id']}/offline-tallies",
                                     headers=matters.staff(community), json={
        "votes_for": len(keys), "votes_against": 0, "abstain": 0, "sign_in_ref": "签到表-2", "attendee_keys": keys})
    assert resp.status_code == 422, resp.text
    assert resp.json()["rule"] == "vote.offline_attendee_not_in_electorate" and len(resp.json()["unknown"]) == 50
    assert voters[0][0] not in resp.json()["unknown"]
    assert await matters.sql("SELECT 1 FROM ballot WHERE vote_id = :v", v=vote["vote_id"]) == []


async def test_ballots_outside_the_window_are_refused(matters, clock):
    community, voters = await _community_with_adults(matters, 2)
    _, vote = await _open_vote(matters, community, closes_at=(clock.now + timedelta(hours=2)).isoformat())
    clock.now += timedelta(hours=3)
    late = await _cast(matters, vote["vote_id"], *voters[0], "for")
    assert late.status_code == 422 and late.json()["rule"] == "vote.window_closed"


async def test_a_vote_whose_time_is_up_is_closed_by_the_service_after_the_grace_for_paper_tallies(matters, clock):
    community, voters = await _community_with_adults(matters, 3)
    closes_at = clock.now + timedelta(hours=2)
    matter_id, vote = await _open_vote(matters, community, closes_at=closes_at.isoformat())
    for n in (0, 1):
        assert (await _cast(matters, vote["vote_id"], *voters[n], "for")).status_code == 201
    grace = timedelta(hours=matters.settings.vote_close_grace_hours)
    # Within the grace the vote stays open: a meeting held on its last day enters its paper tally the next morning.
    status = lambda v: _vote_status(matters, community, v["vote_id"])
    await close_due_votes(matters.app.state.sessions, matters.settings, closes_at + grace / 2)
    assert await status(vote) == "open"
    clock.now = closes_at + grace / 2
    tally = await matters.client.post(f"/api/v1/matters/votes/{vote['vote_id']}/offline-tallies",
                                      headers=matters.staff(community), json={
        "votes_for": 0, "votes_against": 1, "abstain": 0, "sign_in_ref": "签到表-3", "attendee_keys": [voters[2][0]],
        "held_at": (closes_at - timedelta(minutes=30)).isoformat()})
    assert tally.status_code == 201, tally.text
    # Then the service closes it, counts it under its rule and decides the matter, on the timeline as its own act.
    assert await close_due_votes(matters.app.state.sessions, matters.settings, closes_at + grace + timedelta(minutes=1)) >= 1
    read = (await matters.client.get(f"/api/v1/matters/votes/{vote['vote_id']}", headers=matters.staff(community))).json()
    assert (read["status"], read["present"], read["votes_for"], read["votes_against"], read["passed"]) == (
        "closed", 3, 2, 1, True)
    detail = (await matters.client.get(f"/api/v1/matters/{matter_id}", headers=matters.staff(community))).json()
    assert detail["state"] == "decided" and detail["timeline"][-1]["actor"] == "system:vote-window"
    decided = [d for t, d in await matters.events_of(matter_id) if t.endswith("matter.decided.v1")]
    assert len(decided) == 1 and decided[0]["votes_for"] == 2
    # Run again, it leaves the vote as it closed it; a vote without a closing time is staff's to close.
    await close_due_votes(matters.app.state.sessions, matters.settings, closes_at + 2 * grace)
    assert len([d for t, d in await matters.events_of(matter_id) if t.endswith("matter.decided.v1")]) == 1
    _, open_ended = await _open_vote(matters, community, title="增设快递柜")
    await close_due_votes(matters.app.state.sessions, matters.settings, closes_at + 10 * grace)
    assert await status(open_ended) == "open"


async def _vote_status(matters, community: str, vote_id: str) -> str:
    return (await matters.client.get(f"/api/v1/matters/votes/{vote_id}", headers=matters.staff(community))).json()["status"]


async def test_an_empty_electorate_is_refused_and_nothing_is_left_behind(matters):
    community = matters.new_community()
    matter = await matters.raise_matter(community)
    await matters.move(matter["matter_id"], community, "accept", "route")
    resp = await matters.client.post(f"/api/v1/matters/{matter['matter_id']}/votes", json={}, headers=matters.staff(community))
    assert resp.status_code == 422 and resp.json()["rule"] == "vote.empty_electorate"
    detail = (await matters.client.get(f"/api/v1/matters/{matter['matter_id']}", headers=matters.staff(community))).json()
    assert detail["state"] == "routed" and detail["vote_ids"] == []


async def test_a_matter_under_an_open_vote_cannot_be_withdrawn_until_the_vote_closes(matters):
    # A withdrawal would leave the residents' vote open with nothing to decide (ballots still taken, no close).
    community, adults = await _community_with_adults(matters, 3)
    person, home = adults[0]
    raised = await matters.client.post("/api/v1/matters/", json={
        "title": "加装电梯", "description": "老人上下楼不便", "category": "old_estate_renovation"},
        headers=matters.resident(person, home))
    assert raised.status_code == 201, raised.text
    matter_id = raised.json()["matter_id"]
    await matters.move(matter_id, community, "accept", "route")
    opened = await matters.client.post(f"/api/v1/matters/{matter_id}/votes", json={}, headers=matters.staff(community))
    assert opened.status_code == 201, opened.text
    withdraw = await matters.client.post(f"/api/v1/matters/{matter_id}/transitions", json={"action": "withdraw"},
                                         headers=matters.resident(person, home))
    assert withdraw.status_code == 422 and withdraw.json()["rule"] == "matter.vote_open", withdraw.text
    assert (await _cast(matters, opened.json()["vote_id"], *adults[1], "for")).status_code == 201
    closed = await _close(matters, community, opened.json()["vote_id"])
    assert closed["status"] == "closed"


async def test_a_household_that_named_no_representative_is_cast_by_any_of_its_adults(matters):
    community = matters.new_community()
    await matters.client.put(f"/api/v1/matters/templates/communities/{community}",
                             json={"template_code": "nanhu-household-decision"}, headers=matters.staff(community))
    home, other_home = matters.household(community, 1), matters.household(community, 2)
    mother, son, newcomer, minor = (str(uuid.uuid4()) for _ in range(4))
    await matters.seed(
        *[reg.ResidencyChanged(person_id=p, household_code=home, adult=True, effective_on=date(2026, 11, 1))
          for p in (mother, son)],
        reg.ResidencyChanged(person_id=minor, household_code=home, adult=False, effective_on=date(2026, 11, 1)),
        reg.ResidencyChanged(person_id=newcomer, household_code=other_home, adult=True, effective_on=date(2026, 11, 1)),
    )
    _, vote = await _open_vote(matters, community)
    assert vote["base_size"] == 2  # both households count, and each has someone who can cast its vote
    assert (await _cast(matters, vote["vote_id"], minor, home, "for")).json()["rule"] == "vote.not_in_electorate"

    # The newcomer moves into the first household while the vote is open (as the replica consumer applies it): they
    # may now cast its vote, and no longer the second's, which has no adult left.
    from services.matters.consumers import RESIDENCY_CHANGED, consumers
    from youmin.kit.db import transaction
    from youmin.kit.events import Envelope, decode_record

    [replica_spec] = consumers(matters.settings)
    env = Envelope.of(reg.ResidencyChanged(person_id=newcomer, household_code=home, adult=True,
                                           effective_on=date(2026, 11, 20)))
    async with transaction(matters.app.state.sessions) as session:
        await replica_spec.handlers[RESIDENCY_CHANGED](session, decode_record(env.headers(), env.key.encode(),
                                                                             env.value()))
    casters = await matters.sql("SELECT household_code, caster_ids FROM vote_elector WHERE vote_id = :v "
                                "ORDER BY household_code", v=vote["vote_id"])
    assert [(r.household_code, sorted(r.caster_ids)) for r in casters] == [
        (home, sorted([mother, son, newcomer])), (other_home, [])]

    first = await _cast(matters, vote["vote_id"], son, home, "for")
    assert first.status_code == 201 and first.json()["voter_key"] == home, first.text
    second = await _cast(matters, vote["vote_id"], mother, home, "against")  # one vote per household
    assert second.status_code == 409 and second.json()["rule"] == "vote.already_cast"
    result = await _close(matters, community, vote["vote_id"])
    assert (result["present"], result["votes_for"], result["votes_against"]) == (1, 1, 0)


async def test_a_representative_changed_while_a_vote_is_being_opened_casts_its_vote(matters, monkeypatch):
    community = matters.new_community()
    await matters.client.put(f"/api/v1/matters/templates/communities/{community}",
                             json={"template_code": "nanhu-household-decision"}, headers=matters.staff(community))
    home = matters.household(community, 1)
    old, new = str(uuid.uuid4()), str(uuid.uuid4())
    await matters.seed(
        *[reg.ResidencyChanged(person_id=p, household_code=home, adult=True, effective_on=date(2026, 11, 1))
          for p in (old, new)],
        reg.HouseholdRepresentativeSet(household_code=home, representative_person_id=old, proxy_person_ids=[],
                                       effective_on=date(2026, 11, 1)),
    )
    from services.matters.consumers import REPRESENTATIVE_SET, consumers
    from services.matters.repository import MattersRepository
    from youmin.kit.db import transaction
    from youmin.kit.events import Envelope, decode_record

    [replica_spec] = consumers(matters.settings)
    env = Envelope.of(reg.HouseholdRepresentativeSet(household_code=home, representative_person_id=new,
                                                     proxy_person_ids=[], effective_on=date(2026, 11, 20)))

    async def apply_change() -> None:  # as the matters-replica consumer applies it, in a transaction of its own
        async with transaction(matters.app.state.sessions) as session:
            await replica_spec.handlers[REPRESENTATIVE_SET](session, decode_record(env.headers(), env.key.encode(),
                                                                                  env.value()))

    freeze = MattersRepository.freeze_electorate
    changes: list[asyncio.Task] = []

    async def freeze_then_let_the_change_in(self, *args, **kwargs):
        frozen = await freeze(self, *args, **kwargs)
        # The registry's change arrives after the electorate was copied and before the vote commits.
        changes.append(asyncio.create_task(apply_change()))
        await asyncio.sleep(0.5)
        return frozen

    monkeypatch.setattr(MattersRepository, "freeze_electorate", freeze_then_let_the_change_in)
    _, vote = await _open_vote(matters, community)
    monkeypatch.undo()
    await asyncio.wait_for(changes[0], 10)
    by_old = await _cast(matters, vote["vote_id"], old, home, "against")
    assert by_old.status_code == 422 and by_old.json()["rule"] == "vote.not_in_electorate", by_old.text
    assert (await _cast(matters, vote["vote_id"], new, home, "for")).status_code == 201


async def test_opening_a_vote_takes_its_locks_in_the_registry_consumers_order(matters):
    """A registry consumer batch may change a household's casters (electorates, exclusively) and then move a unit
    (code moves, exclusively): opening a vote meanwhile waits for the batch instead of deadlocking with it."""
    community, _ = await _community_with_adults(matters, 2)
    matter = await matters.raise_matter(community)
    await matters.move(matter["matter_id"], community, "accept", "route")
    from services.matters.repository import CodeMoveRepository, MattersRepository
    from youmin.kit.db import transaction

    async with transaction(matters.app.state.sessions) as batch:
        await MattersRepository(batch).lock_electorates(shared=False)
        opening = asyncio.create_task(matters.client.post(f"/api/v1/matters/{matter['matter_id']}/votes", json={},
                                                          headers=matters.staff(community)))
        await asyncio.sleep(0.5)  # the request is waiting for a lock by now
        await asyncio.wait_for(CodeMoveRepository(batch).lock_for_move(), 10)
    opened = await asyncio.wait_for(opening, 30)
    assert opened.status_code == 201, opened.text


async def test_a_retired_household_is_not_in_the_base(matters):
    community, voters = await _community_with_adults(matters, 3)
    retired = voters[2][1]
    unit_id = uuid.uuid4()
    await matters.seed(reg.UnitCreated(unit_id=unit_id, unit_code=retired, parent_code=retired[:20], level="household",
                                       effective_on=date(2026, 1, 1)),
                       reg.UnitRetired(unit_id=unit_id, unit_code=retired, effective_on=date(2026, 11, 1)))
    _, vote = await _open_vote(matters, community)
    assert vote["base_size"] == 2
    refused = await _cast(matters, vote["vote_id"], *voters[2], "for")
    assert refused.status_code == 422 and refused.json()["rule"] == "vote.not_in_electorate"


async def test_a_major_matter_is_not_decided_under_a_weaker_rule(matters):
    community, _ = await _community_with_adults(matters, 3)
    matter = await matters.raise_matter(community, title="小区停车收费调整", major=True)
    await matters.move(matter["matter_id"], community, "accept", "route")
    url = f"/api/v1/matters/{matter['matter_id']}/votes"
    weaker = await matters.client.post(url, json={"rule_version": "urcol-2018"}, headers=matters.staff(community))
    assert weaker.status_code == 422 and weaker.json()["field"] == "rule_version"
    assert weaker.json()["rule"] == "vote.rule_too_weak_for_major"
    # Nor by staff deciding it without a vote.
    decide = await matters.client.post(f"/api/v1/matters/{matter['matter_id']}/transitions",
                                       json={"action": "start_decision"}, headers=matters.staff(community))
    assert decide.status_code == 200
    decide = await matters.client.post(f"/api/v1/matters/{matter['matter_id']}/transitions",
                                       json={"action": "decide", "reason": "领导同意"}, headers=matters.staff(community))
    assert decide.status_code == 422 and decide.json()["rule"] == "matter.vote_required"
    default = await matters.client.post(url, json={}, headers=matters.staff(community))
    assert default.status_code == 201 and default.json()["rule_version"] == "urcol-2018-major"


async def test_a_vote_announced_to_close_later_is_not_closed_early(matters, clock):
    community, voters = await _community_with_adults(matters, 2)
    matter = await matters.raise_matter(community, title="延期表决")
    await matters.move(matter["matter_id"], community, "accept", "route")
    years = await matters.client.post(f"/api/v1/matters/{matter['matter_id']}/votes", headers=matters.staff(community),
                                      json={"closes_at": "9999-12-31T23:59:59Z"})
    assert years.status_code == 422 and years.json()["rule"] == "vote.window_too_long", years.text
    _, vote = await _open_vote(matters, community, closes_at=(clock.now + timedelta(days=2)).isoformat())
    await _cast(matters, vote["vote_id"], *voters[0], "for")
    url = f"/api/v1/matters/votes/{vote['vote_id']}/close"
    early = await matters.client.post(url, headers=matters.staff(community))
    assert early.status_code == 422 and early.json()["rule"] == "vote.window_open"
    closes_local = (clock.now + timedelta(days=2)).astimezone(LOCAL_TZ).isoformat(timespec="minutes")
    assert closes_local.endswith("+08:00") and closes_local in early.json()["detail"]  # told in Beijing time
    await _cast(matters, vote["vote_id"], *voters[1], "for")  # everyone has voted: nothing left to wait for
    assert (await matters.client.post(url, headers=matters.staff(community))).json()["passed"] is True


async def test_paper_ballots_count_for_a_meeting_held_inside_the_window(matters, clock):
    community, voters = await _community_with_adults(matters, 3)
    opened = clock.now
    _, vote = await _open_vote(matters, community, closes_at=(opened + timedelta(hours=2)).isoformat())
    clock.now = opened + timedelta(hours=5)
    url = f"/api/v1/matters/votes/{vote['vote_id']}/offline-tallies"
    body = {"votes_for": 2, "votes_against": 0, "abstain": 0, "sign_in_ref": "签到表-3",
            "attendee_keys": [voters[0][0], voters[1][0]]}
    late = await matters.client.post(url, headers=matters.staff(community), json=body)
    assert late.status_code == 422 and late.json()["field"] == "held_at"
    # A time without its zone is not a moment (a 422 naming the field, never a comparison error).
    naive = (opened + timedelta(hours=1)).replace(tzinfo=None).isoformat()
    unplaced = await matters.client.post(url, headers=matters.staff(community), json={**body, "held_at": naive})
    assert unplaced.status_code == 422 and unplaced.json()["errors"][0]["field"] == "held_at", unplaced.text
    held = await matters.client.post(url, headers=matters.staff(community),
                                     json={**body, "held_at": (opened + timedelta(hours=1)).isoformat()})
    assert held.status_code == 201, held.text
    result = await _close(matters, community, vote["vote_id"])
    assert (result["present"], result["votes_for"]) == (2, 2)


async def test_the_public_sees_the_title_staff_give_or_a_generic_one_never_the_residents_text(matters):
    community, voters = await _community_with_adults(matters, 1)
    matter_id, vote = await _open_vote(matters, community, title="王建国家楼上漏水")
    await _cast(matters, vote["vote_id"], *voters[0], "for")
    await _close(matters, community, vote["vote_id"])
    decided = [d for t, d in await matters.events_of(matter_id) if t.endswith("decided.v1")][0]
    assert decided["public_title"] == "城市管理事项"
    matter_id, vote = await _open_vote(matters, community, title="李四反映电梯噪音")
    await _cast(matters, vote["vote_id"], *voters[0], "for")
    closed = await matters.client.post(f"/api/v1/matters/votes/{vote['vote_id']}/close", headers=matters.staff(community),
                                       json={"public_title": "3号楼电梯降噪改造"})
    assert closed.status_code == 200, closed.text
    decided = [d for t, d in await matters.events_of(matter_id) if t.endswith("decided.v1")][0]
    assert decided["public_title"] == "3号楼电梯降噪改造"


async def test_a_covenant_passed_by_the_meeting_is_filed_with_the_street_once(matters, clock):
    community, voters = await _community_with_adults(matters, 1)
    matter = await matters.raise_matter(community, title="修订居民公约", category="social_governance")
    await matters.move(matter["matter_id"], community, "accept", {"action": "route", "channel": "covenant",
                                                                   "reason": "修订公约"})
    url = f"/api/v1/matters/{matter['matter_id']}/covenant-filing"
    today = clock.now.astimezone(LOCAL_TZ).date()
    early = await matters.client.post(url, json={"filed_on": str(today), "reference": "奎街备〔2026〕12号"},
                                      headers=matters.staff(community))
    assert early.status_code == 422 and early.json()["rule"] == "covenant.not_passed"
    vote = (await matters.client.post(f"/api/v1/matters/{matter['matter_id']}/votes", json={},
                                      headers=matters.staff(community))).json()
    await _cast(matters, vote["vote_id"], *voters[0], "for")
    await _close(matters, community, vote["vote_id"])
    ahead = await matters.client.post(url, json={"filed_on": str(today + timedelta(days=1)), "reference": "x"},
                                      headers=matters.staff(community))
    assert ahead.status_code == 422 and ahead.json()["field"] == "filed_on"
    filed = await matters.client.post(url, json={"filed_on": str(today), "reference": "奎街备〔2026〕12号"},
                                      headers=matters.staff(community))
    assert filed.status_code == 200, filed.text
    entry = filed.json()["timeline"][-1]
    assert (entry["action"], entry["details"]["reference"], filed.json()["state"]) == (
        "file_covenant", "奎街备〔2026〕12号", "decided")
    again = await matters.client.post(url, json={"filed_on": str(today), "reference": "x"},
                                      headers=matters.staff(community))
    assert again.status_code == 409 and again.json()["rule"] == "covenant.already_filed"
    published = [d for t, d in await matters.events_of(matter["matter_id"]) if t.endswith("transitioned.v1")]
    assert published[-1]["action"] == "file_covenant" and "reference" not in published[-1]


async def test_a_ballot_finds_its_elector_through_the_caster_index_whatever_the_statistics(matters):
    # Ballots come at once after a large electorate is frozen, before the table's statistics know it: the read of the
    # caster's electors can only go through the caster index, never through the vote's every elector. The read is the
    # query of the database function a ballot calls (ballot_vote_held), its parameters numbered.
    community, voters = await _community_with_adults(matters, 300)
    _, vote = await _open_vote(matters, community)
    person, home = voters[150]
    async with matters.app.state.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        source = await raw.fetchval("SELECT prosrc FROM pg_proc WHERE proname = 'ballot_vote_held'")
        query = source.split("RETURN QUERY", 1)[1].rsplit(";", 1)[0]
        query = query.replace("p_vote", "CAST($1 AS uuid)").replace("p_person", "CAST($2 AS text)")
        async with raw.transaction():
            await raw.execute("SET LOCAL enable_seqscan = off")  # as with a table too large to read whole
            plan = "\n".join(r[0] for r in await raw.fetch("EXPLAIN " + query, uuid.UUID(vote["vote_id"]), person))
    assert "ix_vote_elector_caster_ids" in plan and "pk_vote_elector" not in plan, plan
    assert (await _cast(matters, vote["vote_id"], person, home, "for")).status_code == 201


async def test_the_residents_meeting_votes_with_the_whole_community_wherever_the_matter_was_raised(matters):
    community, _ = await _community_with_adults(matters, 2)  # grid 001, building 001
    elsewhere = f"{community}001002010001"  # a household in building 002 of the same grid
    await matters.seed(reg.ResidencyChanged(person_id=str(uuid.uuid4()), household_code=elsewhere, adult=True,
                                            effective_on=date.today()))
    building = community + "001001"
    grid_staff = matters.headers("grid-mgr", [("grid_manager", community + "001")])

    # The building's own matter goes to its neighbourhood meeting: the building votes, run by its grid's staff.
    own = await matters.raise_matter(community, unit_code=building)
    await matters.move(own["matter_id"], community, "accept", "route")
    opened = await matters.client.post(f"/api/v1/matters/{own['matter_id']}/votes", json={}, headers=grid_staff)
    assert opened.status_code == 201, opened.text
    assert opened.json()["base_size"] == 2

    # Routed to the residents' meeting (it concerns every owner), the whole community votes, and community staff run it.
    shared = await matters.raise_matter(community, unit_code=building, title="动用公共维修资金")
    await matters.move(shared["matter_id"], community, "accept",
                       {"action": "route", "channel": "residents_meeting", "reason": "涉及全体业主的公共维修资金"})
    refused = await matters.client.post(f"/api/v1/matters/{shared['matter_id']}/votes", json={}, headers=grid_staff)
    assert refused.status_code == 403
    opened = await matters.client.post(f"/api/v1/matters/{shared['matter_id']}/votes", json={},
                                       headers=matters.staff(community))
    assert opened.status_code == 201, opened.text
    assert opened.json()["base_size"] == 3


async def test_a_vote_opened_wrongly_is_cancelled_with_a_reason_and_opened_again(matters):
    community, voters = await _community_with_adults(matters, 3)
    # Typed 80 days ahead instead of 8: the residents' vote would hold the matter for months.
    closes_at = (datetime.now(LOCAL_TZ) + timedelta(days=80)).isoformat()
    matter_id, vote = await _open_vote(matters, community, closes_at=closes_at)
    vote = await matters.client.post(f"/api/v1/matters/{matter_id}/votes", json={},
                                     headers=matters.staff(community))
    assert vote.status_code == 409  # one vote open at a time
    [first] = (await matters.client.get(f"/api/v1/matters/{matter_id}", headers=matters.staff(community))).json()["vote_ids"]
    person, home = voters[0]
    cast = await _cast(matters, first, person, home, "for")
    receipt = cast.json()["receipt"]
    url = f"/api/v1/matters/votes/{first}/cancel"
    assert (await matters.client.post(url, json={}, headers=matters.staff(community))).status_code == 422
    assert (await matters.client.post(url, json={"reason": "x"}, headers=matters.resident(person, home))).status_code == 403
    cancelled = await matters.client.post(url, json={"reason": "截止时间录错"}, headers=matters.staff(community))
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled" and cancelled.json()["passed"] is None
    again = await matters.client.post(url, json={"reason": "再次"}, headers=matters.staff(community))
    assert again.status_code == 409
    # The ballot cast in it is kept, counted for nothing; no more come in.
    check = (await matters.client.get(f"/api/v1/matters/votes/{first}/receipts/{receipt}",
                                      headers=matters.resident(person, home))).json()
    assert (check["vote_status"], check["counted"]) == ("cancelled", False)
    assert (await _cast(matters, first, *voters[1], "for")).status_code == 422
    # The matter is back in routed, with the reason on its timeline and the move on the bus; a vote opens again.
    detail = (await matters.client.get(f"/api/v1/matters/{matter_id}", headers=matters.staff(community))).json()
    assert detail["state"] == "routed"
    step = detail["timeline"][-1]
    assert (step["action"], step["reason"], step["reason_code"]) == ("cancel_decision", "截止时间录错", "vote.cancelled")
    moves = [d for t, d in await matters.events_of(matter_id) if t.endswith("transitioned.v1")]
    assert (moves[-1]["action"], moves[-1]["to_state"]) == ("cancel_decision", "routed")
    reopened = await matters.client.post(f"/api/v1/matters/{matter_id}/votes", json={}, headers=matters.staff(community))
    assert reopened.status_code == 201 and reopened.json()["base_size"] == 3
    assert (await _cast(matters, reopened.json()["vote_id"], person, home, "against")).status_code == 201


async def test_a_decision_is_called_off_by_cancelling_its_vote_not_by_a_transition(matters):
    community, _ = await _community_with_adults(matters, 2)
    matter_id, vote = await _open_vote(matters, community)
    staff = matters.staff(community)
    detail = (await matters.client.get(f"/api/v1/matters/{matter_id}", headers=staff)).json()
    assert "cancel_decision" not in detail["allowed_actions"]
    refused = await matters.client.post(f"/api/v1/matters/{matter_id}/transitions", json={"action": "cancel_decision"},
                                        headers=staff)
    assert refused.status_code == 422 and refused.json()["rule"] == "matter.vote_open"


async def test_the_community_that_decided_a_matter_rates_it_and_a_buildings_own_matter_its_building(matters):
    community, voters = await _community_with_adults(matters, 2)  # building 001
    neighbour, elsewhere = str(uuid.uuid4()), f"{community}001002010001"  # building 002
    await matters.seed(reg.ResidencyChanged(person_id=neighbour, household_code=elsewhere, adult=True,
                                            effective_on=date.today()))
    building, staff = community + "001001", matters.staff(community)
    shared = await matters.raise_matter(community, unit_code=building, title="动用公共维修资金")
    await matters.move(shared["matter_id"], community, "accept",
                       {"action": "route", "channel": "residents_meeting", "reason": "涉及全体业主的公共维修资金"})
    vote = (await matters.client.post(f"/api/v1/matters/{shared['matter_id']}/votes", json={}, headers=staff)).json()
    for person, home in voters:
        assert (await _cast(matters, vote["vote_id"], person, home, "for")).status_code == 201
    assert (await _close(matters, community, vote["vote_id"]))["passed"] is True
    await matters.move(shared["matter_id"], community, "start_implementation", "start_evaluation")
    rated = await matters.client.post(f"/api/v1/matters/{shared['matter_id']}/ratings", json={"score": 1},
                                      headers=matters.resident(neighbour, elsewhere))
    assert rated.status_code == 201, rated.text

    own = await matters.raise_matter(community, unit_code=building, title="楼道灯")
    await matters.move(own["matter_id"], community, "accept", {"action": "route", "channel": "deliberation",
                                                               "reason": "协商"},
                       "start_deliberation", "start_decision", {"action": "decide", "reason": "一致同意"},
                       "start_implementation", "start_evaluation")
    refused = await matters.client.post(f"/api/v1/matters/{own['matter_id']}/ratings", json={"score": 5},
                                        headers=matters.resident(neighbour, elsewhere))
    assert refused.status_code == 403


async def test_a_fifth_of_the_residents_asking_makes_the_meeting_one_that_must_be_called(matters):
    community, residents = await _community_with_adults(matters, 10)  # ten households of one adult each
    staff = matters.staff(community)
    matter = await matters.raise_matter(community, unit_code=community + "001001", title="小区停车收费")
    await matters.move(matter["matter_id"], community, "accept")
    url = f"/api/v1/matters/{matter['matter_id']}/meeting-requests"
    first = await matters.client.post(url, headers=matters.resident(*residents[0]))
    assert first.status_code == 201, first.text
    assert {k: first.json()[k] for k in ("adults_asking", "adults_total", "households_asking", "households_total",
                                         "must_be_called", "asked_by_you")} == {
        "adults_asking": 1, "adults_total": 10, "households_asking": 1, "households_total": 10,
        "must_be_called": False, "asked_by_you": True}
    again = await matters.client.post(url, headers=matters.resident(*residents[0]))
    assert again.status_code == 409 and again.json()["rule"] == "meeting_request.repeated"
    # Only residents the registry knows in the community ask: not staff, not a token naming a home it does not know.
    assert (await matters.client.post(url, headers=staff)).status_code == 403
    stranger = matters.resident(str(uuid.uuid4()), matters.household(community, 99))
    assert (await matters.client.post(url, headers=stranger)).status_code == 403
    proposal = (await matters.client.get(f"/api/v1/matters/{matter['matter_id']}/route-proposal", headers=staff)).json()
    assert proposal["channel"] == "neighbourhood"

    second = (await matters.client.post(url, headers=matters.resident(*residents[1]))).json()
    assert (second["adults_asking"], second["must_be_called"]) == (2, True)  # 2 of 10: a fifth ("以上" includes it)
    assert (await matters.client.post(url, headers=matters.resident(*residents[2]))).status_code == 201
    detail = (await matters.client.get(f"/api/v1/matters/{matter['matter_id']}", headers=staff)).json()
    demanded = [t for t in detail["timeline"] if t["action"] == "meeting_demanded"]
    assert len(demanded) == 1 and demanded[0]["details"]["adults_asking"] == 2
    moves = [d["action"] for t, d in await matters.events_of(matter["matter_id"]) if t.endswith("transitioned.v1")]
    assert moves.count("meeting_demanded") == 1
    proposal = (await matters.client.get(f"/api/v1/matters/{matter['matter_id']}/route-proposal", headers=staff)).json()
    assert proposal["channel"] == "residents_meeting" and "五分之一" in proposal["reason"]
    routed = await matters.move(matter["matter_id"], community, "route")
    assert routed["channel"] == "residents_meeting"
    seen = (await matters.client.get(url, headers=matters.resident(*residents[3]))).json()
    assert (seen["adults_asking"], seen["asked_by_you"], seen["must_be_called"]) == (3, False, True)
    # One who asked moves to another community: they are counted no more (nor in the community's totals).
    away = matters.household(matters.new_community(), 1)
    await matters.seed(reg.ResidencyChanged(person_id=residents[0][0], household_code=away, adult=True,
                                            effective_on=date.today()))

    async def moved_out():
        count = (await matters.client.get(url, headers=staff)).json()
        return count if count["adults_total"] == 9 else None

    count = await eventually(moved_out)
    assert (count["adults_asking"], count["households_asking"]) == (2, 2)

    # Once the matter is over, nobody asks any more.
    other = await matters.raise_matter(community, title="另一件事")
    await matters.move(other["matter_id"], community, {"action": "reject", "reason": "不属于社区事务"})
    late = await matters.client.post(f"/api/v1/matters/{other['matter_id']}/meeting-requests",
                                     headers=matters.resident(*residents[4]))
    assert late.status_code == 409 and late.json()["rule"] == "meeting_request.closed"


async def test_a_vote_whose_window_has_ended_is_counted_not_cancelled_and_a_cancel_says_why(matters, clock):
    community, voters = await _community_with_adults(matters, 2)
    closes_at = clock.now + timedelta(days=1)
    matter_id, vote = await _open_vote(matters, community, closes_at=closes_at.isoformat())
    await _cast(matters, vote["vote_id"], *voters[0], "against")
    clock.now = closes_at + timedelta(minutes=1)  # inside the grace for paper tallies
    late = await matters.client.post(f"/api/v1/matters/votes/{vote['vote_id']}/cancel", json={"reason": "结果不理想"},
                                     headers=matters.staff(community))
    assert late.status_code == 409 and late.json()["rule"] == "vote.window_ended"
    assert (await _close(matters, community, vote["vote_id"]))["status"] == "closed"
    # With no vote open (a decision staff make by hand), calling it off takes a reason too.
    other = await matters.raise_matter(community, title="议事厅事项")
    await matters.move(other["matter_id"], community, "accept", {"action": "route", "channel": "deliberation",
                                                                 "reason": "协商"}, "start_decision")
    bare = await matters.client.post(f"/api/v1/matters/{other['matter_id']}/transitions",
                                     json={"action": "cancel_decision"}, headers=matters.staff(community))
    assert bare.status_code == 422 and bare.json()["rule"] == "matter.cancel_reason_required"
    done = await matters.move(other["matter_id"], community, {"action": "cancel_decision", "reason": "议题需补充材料"})
    assert done["state"] == "routed"


async def test_a_cancelled_vote_leaves_the_major_flag_to_be_set_before_the_next(matters):
    community, _ = await _community_with_adults(matters, 2)
    matter_id, vote = await _open_vote(matters, community)
    staff = matters.staff(community)
    await matters.client.post(f"/api/v1/matters/votes/{vote['vote_id']}/cancel", json={"reason": "应按重大事项表决"},
                              headers=staff)
    flagged = await matters.client.put(f"/api/v1/matters/{matter_id}/flags", json={"major": True}, headers=staff)
    assert flagged.status_code == 200 and flagged.json()["major"] is True, flagged.text
    reopened = await matters.client.post(f"/api/v1/matters/{matter_id}/votes", json={}, headers=staff)
    assert reopened.status_code == 201 and reopened.json()["rule_version"] != vote["rule_version"]


async def test_a_meeting_demanded_in_one_community_is_not_anothers_when_the_matter_is_placed_there(matters):
    community, residents = await _community_with_adults(matters, 5)
    other = community[:9] + f"{(int(community[9:]) + 1) % 1000:03d}"
    await matters.seed(*[reg.UnitCreated(unit_id=uuid.uuid4(), unit_code=code, parent_code=None, level=level,
                                         effective_on=date(2026, 1, 1))
                         for code, level in ((community[:9], "street"), (community, "community"), (other, "community"))])
    matter = await matters.raise_matter(community, title="两个社区交界处的路灯")
    url = f"/api/v1/matters/{matter['matter_id']}/meeting-requests"
    assert (await matters.client.post(url, headers=matters.resident(*residents[0]))).json()["must_be_called"] is True
    street = matters.staff(community[:9])
    placed = await matters.client.post(f"/api/v1/matters/{matter['matter_id']}/transitions",
                                       json={"action": "place", "unit_code": other}, headers=street)
    assert placed.status_code == 200 and placed.json()["community_code"] == other, placed.text
    count = (await matters.client.get(url, headers=street)).json()
    assert (count["adults_asking"], count["must_be_called"]) == (0, False)
    proposal = (await matters.client.get(f"/api/v1/matters/{matter['matter_id']}/route-proposal", headers=street)).json()
    assert "五分之一" not in proposal["reason"]  # proposed by its scope, not by a demand of the other community
