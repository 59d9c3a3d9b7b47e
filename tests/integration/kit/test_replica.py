"""The registry replica's handlers and queries against a real PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from sqlalchemy import MetaData
from sqlalchemy import text as sa_text

from services.registry import events as ev
from youmin.kit import replica
from youmin.kit.db import NAMING_CONVENTION, make_engine, make_sessionmaker, transaction
from youmin.kit.events import Envelope, decode_record
from youmin.kit.migrate import drop_database, ensure_database
from youmin.kit.settings import service_database_url


def cloudevent(event):
    env = Envelope.of(event)
    return decode_record(env.headers(), env.key.encode(), env.value())


@pytest.fixture
async def sessions(infra):
    url = service_database_url(infra.server_url, "replicacheck", infra.suffix)
    await ensure_database(url)
    engine = make_engine(url)
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    replica.replica_tables(metadata)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield make_sessionmaker(engine)
    await engine.dispose()
    await drop_database(url)


async def apply_all(sessions, *events):
    async with transaction(sessions) as session:
        for e in events:
            await replica.apply(session, cloudevent(e))


def created(code, parent, level, name=None):
    return ev.UnitCreated(unit_id=uuid.uuid4(), unit_code=code, parent_code=parent, level=level, unit_name=name,
                          effective_on=date(2026, 1, 1))


async def test_moved_grid_takes_new_codes_with_its_households_and_grants(sessions):
    street_a, street_b = created("370705001", "370705", "street", "东关街道"), created("370705002", "370705", "street", "大虞街道")
    comm_a, comm_b = created("370705001001", "370705001", "community"), created("370705002001", "370705002", "community")
    grid = created("370705001001001", "370705001001", "grid", "一网格")
    person, manager = uuid.uuid4(), uuid.uuid4()
    await apply_all(
        sessions, street_a, street_b, comm_a, comm_b, grid,
        ev.ResidencyChanged(person_id=person, household_code="3707050010010010010101001", adult=True, effective_on=date(2026, 1, 1)),
        ev.RoleGranted(grant_id=uuid.uuid4(), person_id=manager, role="grid_manager", scope_code="370705001001001",
                       effective_on=date(2026, 1, 1)),
    )
    async with transaction(sessions) as s:
        assert [u.code for u in await replica.descendants(s, "370705001")] == ["370705001001", "370705001001001"]
        assert await replica.adults_under(s, "370705001") == [(str(person), "3707050010010010010101001")]

    await apply_all(sessions, ev.UnitMoved(unit_id=grid.unit_id, old_code="370705001001001", new_code="370705002001001",
                                           new_parent_code="370705002001", effective_on=date(2026, 2, 1)))
    async with transaction(sessions) as s:
        moved = await replica.get_unit(s, "370705002001001")
        assert moved is not None and moved.parent_code == "370705002001" and moved.unit_name == "一网格"
        assert await replica.get_unit(s, "370705001001001") is None
        assert await replica.adults_under(s, "370705001") == []
        assert await replica.adults_under(s, "370705002") == [(str(person), "3707050020010010010101001")]
        assert [h.person_id for h in await replica.holders(s, "grid_manager", within="370705002")] == [str(manager)]
        assert [a.code for a in await replica.ancestors(s, "370705002001001")] == ["370705002", "370705002001"]


async def test_events_sent_around_a_move_apply_in_any_order_of_arrival(sessions):
    # The registry moves a grid, then sets a household's representative under the grid's new code; the people topic
    # is read first. Events sent before the move (the old codes) also arrive after it.
    streets = [created("370705001", "370705", "street"), created("370705002", "370705", "street")]
    comms = [created("370705001001", "370705001", "community"), created("370705002001", "370705002", "community")]
    grid = created("370705001001001", "370705001001", "grid", "一网格")
    old_home, new_home = "370705001001001001010101", "370705002001001001010101"
    rep, late, manager = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await apply_all(sessions, *streets, *comms, grid,
                    ev.HouseholdRepresentativeSet(household_code=old_home, representative_person_id=uuid.uuid4(),
                                                  proxy_person_ids=[], effective_on=date(2026, 1, 1)))
    moved = ev.UnitMoved(unit_id=grid.unit_id, old_code="370705001001001", new_code="370705002001001",
                         new_parent_code="370705002001", effective_on=date(2026, 2, 1))
    await apply_all(sessions,
                    ev.HouseholdRepresentativeSet(household_code=new_home, representative_person_id=rep,
                                                  proxy_person_ids=[], effective_on=date(2026, 2, 2)),
                    moved,
                    ev.ResidencyChanged(person_id=late, household_code=old_home, adult=True, effective_on=date(2026, 1, 20)),
                    ev.RoleGranted(grant_id=uuid.uuid4(), person_id=manager, role="grid_manager",
                                   scope_code="370705001001001", effective_on=date(2026, 1, 20)),
                    created("370705001001001001", "370705001001001", "building"))
    # And a later move of the new street's community carries the earlier move's codes along.
    await apply_all(sessions, created("370705002002", "370705002", "community"),
                    ev.UnitMoved(unit_id=comms[1].unit_id, old_code="370705002001", new_code="370705002003",
                                 new_parent_code="370705002", effective_on=date(2026, 3, 1)),
                    ev.ResidencyChanged(person_id=uuid.uuid4(), household_code=old_home, adult=True,
                                        effective_on=date(2026, 1, 21)))
    current_home = "370705002003001001010101"
    async with transaction(sessions) as s:
        households = await s.execute(sa_text("SELECT household_code, representative_person_id FROM replica_household"))
        assert [(h, str(p)) for h, p in households] == [(current_home, str(rep))]
        residents = await s.execute(sa_text("SELECT DISTINCT household_code FROM replica_resident"))
        assert [r for (r,) in residents] == [current_home]
        assert [h.person_id for h in await replica.holders(s, "grid_manager", within="370705002003")] == [str(manager)]
        building = await replica.get_unit(s, "370705002003001001")
        assert building is not None and building.parent_code == "370705002003001"


async def test_a_unit_moved_under_an_earlier_move_takes_late_events_to_its_current_code(sessions):
    # A community moves to another street, then one of its grids to another community there; a residency sent
    # before both moves arrives after them.
    await apply_all(sessions, created("370705001", "370705", "street"), created("370705002", "370705", "street"))
    community = created("370705001001", "370705001", "community")
    grid = created("370705001001001", "370705001001", "grid")
    await apply_all(sessions, community, grid, created("370705002002", "370705002", "community"))
    person = uuid.uuid4()
    await apply_all(
        sessions,
        ev.UnitMoved(unit_id=community.unit_id, old_code="370705001001", new_code="370705002001",
                     new_parent_code="370705002", effective_on=date(2026, 2, 1)),
        ev.UnitMoved(unit_id=grid.unit_id, old_code="370705002001001", new_code="370705002002001",
                     new_parent_code="370705002002", effective_on=date(2026, 3, 1)),
        ev.ResidencyChanged(person_id=person, household_code="370705001001001001010101", adult=True,
                            effective_on=date(2026, 1, 15)),
    )
    async with transaction(sessions) as s:
        assert await replica.adults_under(s, "370705002002001") == [(str(person), "370705002002001001010101")]


async def test_a_move_sent_again_after_the_unit_moved_on_changes_nothing(sessions):
    # A grid moves, then moves again; the first move, sent once more (under a new event id), must not take it back.
    await apply_all(sessions, created("370705001", "370705", "street"))
    first, second, third = (created(f"370705001{n:03d}", "370705001", "community") for n in (1, 2, 3))
    grid = created("370705001001001", "370705001001", "grid")
    await apply_all(sessions, first, second, third, grid)
    there = ev.UnitMoved(unit_id=grid.unit_id, old_code="370705001001001", new_code="370705001002001",
                         new_parent_code="370705001002", effective_on=date(2026, 2, 1))
    await apply_all(sessions, there, ev.UnitMoved(unit_id=grid.unit_id, old_code="370705001002001",
                                                  new_code="370705001003001", new_parent_code="370705001003",
                                                  effective_on=date(2026, 3, 1)))
    await apply_all(sessions, there.model_copy())  # the same move, a new envelope
    person = uuid.uuid4()
    await apply_all(sessions, ev.ResidencyChanged(person_id=person, household_code="370705001001001001010101",
                                                  adult=True, effective_on=date(2026, 1, 15)))
    async with transaction(sessions) as s:
        unit = await replica.get_unit(s, "370705001003001")
        assert unit is not None and unit.parent_code == "370705001003"
        assert await replica.adults_under(s, "370705001003001") == [(str(person), "370705001003001001010101")]


async def _moves_of_a_community_and_its_grid(sessions):
    """A community moves to another street, and then its grid to a community of a third street; returns the events
    in the registry's order and the codes involved."""
    await apply_all(sessions, *(created(f"37070500{n}", "370705", "street") for n in (1, 2, 3)))
    community, other = created("370705001001", "370705001", "community"), created("370705003001", "370705003", "community")
    grid = created("370705001001001", "370705001001", "grid")
    await apply_all(sessions, community, other, grid)
    person = uuid.uuid4()
    await apply_all(sessions, ev.ResidencyChanged(person_id=person, household_code="370705001001001001010101",
                                                  adult=True, effective_on=date(2026, 1, 15)))
    first = ev.UnitMoved(unit_id=community.unit_id, old_code="370705001001", new_code="370705002001",
                         new_parent_code="370705002", effective_on=date(2026, 2, 1))
    second = ev.UnitMoved(unit_id=grid.unit_id, old_code="370705002001001", new_code="370705003001002",
                          new_parent_code="370705003001", effective_on=date(2026, 3, 1))
    return first, second, person, grid


@pytest.mark.parametrize("order", ["as published", "grid's move first"])
async def test_a_community_and_then_its_grid_moving_end_in_the_same_place_in_either_order_of_arrival(sessions, order):
    # Moves of different units are keyed by their units: they may arrive in either order.
    first, second, person, grid = await _moves_of_a_community_and_its_grid(sessions)
    for move in ((first, second) if order == "as published" else (second, first)):
        await apply_all(sessions, move)
    late = uuid.uuid4()  # a residency sent before both moves names the first codes
    await apply_all(sessions, ev.ResidencyChanged(person_id=late, household_code="370705001001001001010102",
                                                  adult=True, effective_on=date(2026, 1, 20)))
    async with transaction(sessions) as s:
        unit = await replica.get_unit(s, "370705003001002")
        assert unit is not None and unit.parent_code == "370705003001"
        assert await replica.get_unit(s, "370705002001001") is None
        assert sorted(await replica.adults_under(s, "370705003001002")) == sorted(
            [(str(person), "370705003001002001010101"), (str(late), "370705003001002001010102")])
        assert [u.code for u in await replica.descendants(s, "370705002001")] == []


async def test_a_grid_moving_into_a_community_whose_own_later_move_arrived_first_lands_at_its_code_today(sessions):
    # The registry moves the grid into community X first, then X to another street; X's move arrives first.
    await apply_all(sessions, *(created(f"37070500{n}", "370705", "street") for n in (1, 2)))
    home, x = created("370705001001", "370705001", "community"), created("370705001002", "370705001", "community")
    grid = created("370705001001001", "370705001001", "grid")
    await apply_all(sessions, home, x, grid)
    x_moves = ev.UnitMoved(unit_id=x.unit_id, old_code="370705001002", new_code="370705002002",
                           new_parent_code="370705002", effective_on=date(2026, 3, 1))
    grid_moves = ev.UnitMoved(unit_id=grid.unit_id, old_code="370705001001001", new_code="370705001002001",
                              new_parent_code="370705001002", effective_on=date(2026, 2, 1))
    await apply_all(sessions, x_moves, grid_moves)
    async with transaction(sessions) as s:
        unit = await replica.get_unit(s, "370705002002001")
        assert unit is not None and unit.parent_code == "370705002002"
        assert await replica.get_unit(s, "370705001002001") is None


async def test_a_grid_taken_along_by_a_later_move_of_its_old_community_keeps_that_code_free_for_another(sessions):
    # The registry moves grid C out of community U, then U to another street, then gives U's (now free) grid code to a
    # new grid E. U's move arrives first and takes C along in the replica: C's own move then starts from a code the
    # registry never gave C, which must not be recorded as C's.
    await apply_all(sessions, *(created(f"37070500{n}", "370705", "street") for n in (1, 2, 3)))
    u, c = created("370705001001", "370705001", "community"), created("370705001001001", "370705001001", "grid")
    await apply_all(sessions, u, c, created("370705003001", "370705003", "community"))
    c_moves = ev.UnitMoved(unit_id=c.unit_id, old_code="370705001001001", new_code="370705003001001",
                           new_parent_code="370705003001", effective_on=date(2026, 2, 1))
    u_moves = ev.UnitMoved(unit_id=u.unit_id, old_code="370705001001", new_code="370705002001",
                           new_parent_code="370705002", effective_on=date(2026, 3, 1))
    e = created("370705002001001", "370705002001", "grid")
    manager = uuid.uuid4()
    await apply_all(sessions, u_moves, c_moves, e,
                    ev.RoleGranted(grant_id=uuid.uuid4(), person_id=manager, role="grid_manager",
                                   scope_code="370705002001001", effective_on=date(2026, 4, 1)))
    async with transaction(sessions) as s:
        moved, new = await replica.get_unit(s, "370705003001001"), await replica.get_unit(s, "370705002001001")
        assert moved is not None and moved.unit_id == str(c.unit_id) and moved.parent_code == "370705003001"
        assert new is not None and new.unit_id == str(e.unit_id)
        moves = await replica.all_moves(s)
        assert replica.code_today("370705002001001", moves) == "370705002001001"
        assert replica.code_today("370705001001001", moves) == "370705003001001"
        holders = await replica.holders(s, "grid_manager", within="370705002001001")
        assert [h.person_id for h in holders] == [str(manager)]


@pytest.mark.parametrize("order", ["granted first", "revoked first", "granted again after the revocation"])
async def test_a_revoked_grant_stays_revoked_whatever_order_its_events_arrive_in(sessions, order):
    """A grant dead-lettered and sent again later (youmin dlq redrive) arrives after its revocation: it must not
    come back to life."""
    grant, person = uuid.uuid4(), uuid.uuid4()
    granted = ev.RoleGranted(grant_id=grant, person_id=person, role="mediator", scope_code="370705004001",
                             effective_on=date(2026, 1, 1))
    revoked = ev.RoleRevoked(grant_id=grant, person_id=person, role="mediator", scope_code="370705004001",
                             effective_on=date(2026, 2, 1))
    events = {"granted first": [granted, revoked], "revoked first": [revoked, granted],
              "granted again after the revocation": [granted, revoked, granted]}[order]
    for event in events:
        await apply_all(sessions, event)
    async with transaction(sessions) as s:
        assert await replica.holders(s, "mediator", covering="370705004001001") == []
        rows = (await s.execute(sa_text("SELECT active FROM replica_grant WHERE grant_id = :g"),
                                {"g": str(grant)})).scalars().all()
        assert rows == [False]


async def test_an_older_residency_representative_or_assignment_arriving_late_does_not_overwrite_a_newer_one(sessions):
    """Records sent back from a dead-letter topic, or keyed to another partition after their unit moved, arrive after
    later ones: the replica keeps what the latest event said."""
    person, rep, new_rep = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    old_home, new_home = "3707050050010010010101001", "3707050050010010010101002"
    sent_first = [
        Envelope.of(ev.ResidencyChanged(person_id=person, household_code=old_home, adult=True, effective_on=date(2026, 1, 1))),
        Envelope.of(ev.HouseholdRepresentativeSet(household_code=new_home, representative_person_id=rep,
                                                  proxy_person_ids=[], effective_on=date(2026, 1, 1))),
        Envelope.of(ev.DepartmentAssigned(department_code="D-LATE", community_code="370705005001", active=True,
                                          effective_on=date(2026, 1, 1))),
    ]
    sent_later = [
        Envelope.of(ev.ResidencyChanged(person_id=person, household_code=new_home, adult=True, effective_on=date(2026, 3, 1))),
        Envelope.of(ev.HouseholdRepresentativeSet(household_code=new_home, representative_person_id=new_rep,
                                                  proxy_person_ids=[], effective_on=date(2026, 3, 1))),
        Envelope.of(ev.DepartmentAssigned(department_code="D-LATE", community_code="370705005001", active=False,
                                          effective_on=date(2026, 3, 1))),
    ]
    async with transaction(sessions) as session:
        for env in [*sent_later, *sent_first]:  # the later ones arrive first
            await replica.apply(session, decode_record(env.headers(), env.key.encode(), env.value()))
    async with transaction(sessions) as s:
        home = (await s.execute(sa_text("SELECT household_code FROM replica_resident WHERE person_id = :p"),
                                {"p": str(person)})).scalar_one()
        assert home == new_home
        (household,) = await replica.households_under(s, new_home)
        assert household.may_vote(str(new_rep)) and not household.may_vote(str(rep))
        assert await replica.departments_for(s, "370705005001") == []
    # In the order they were sent, each applies.
    again = Envelope.of(ev.DepartmentAssigned(department_code="D-LATE", community_code="370705005001", active=True,
                                              effective_on=date(2026, 4, 1)))
    async with transaction(sessions) as session:
        await replica.apply(session, decode_record(again.headers(), again.key.encode(), again.value()))
    async with transaction(sessions) as s:
        assert await replica.departments_for(s, "370705005001") == ["D-LATE"]


async def test_household_proxy_may_vote_and_revoked_role_is_gone(sessions):
    rep, proxy, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    grant = uuid.uuid4()
    await apply_all(
        sessions,
        ev.HouseholdRepresentativeSet(household_code="3707050030010010010101001", representative_person_id=rep,
                                      proxy_person_ids=[proxy], effective_on=date(2026, 1, 1)),
        ev.RoleGranted(grant_id=grant, person_id=other, role="mediator", scope_code="370705003001", effective_on=date(2026, 1, 1)),
        ev.DepartmentAssigned(department_code="D-CGJ", community_code="370705003001", active=True, effective_on=date(2026, 1, 1)),
    )
    async with transaction(sessions) as s:
        (household,) = await replica.households_under(s, "370705003001")
        assert household.may_vote(str(proxy)) and household.may_vote(str(rep)) and not household.may_vote(str(other))
        assert [h.person_id for h in await replica.holders(s, "mediator", covering="370705003001001")] == [str(other)]
        assert await replica.departments_for(s, "370705003001") == ["D-CGJ"]
    await apply_all(sessions, ev.RoleRevoked(grant_id=grant, person_id=other, role="mediator", scope_code="370705003001",
                                             effective_on=date(2026, 3, 1)))
    async with transaction(sessions) as s:
        assert await replica.holders(s, "mediator", covering="370705003001001") == []


def tampered(event, **changes):
    """The event as it would arrive with some data fields changed (a producer's bug, a hand-made message)."""
    import json

    env = Envelope.of(event)
    data = {**json.loads(env.value()), **changes}
    return decode_record(env.headers(), env.key.encode(), json.dumps(data).encode())


@pytest.mark.parametrize("event, changes", [
    (ev.ResidencyChanged(person_id=uuid.uuid4(), household_code="370705004001001010001", adult=False,
                         effective_on=date(2026, 1, 1)), {"adult": "false"}),
    (ev.DepartmentAssigned(department_code="D1", community_code="370705004001", active=False,
                           effective_on=date(2026, 1, 1)), {"active": "false"}),
    (ev.UnitMoved(unit_id=uuid.uuid4(), old_code="370705004001", new_code="370705005001", new_parent_code="370705005",
                  effective_on=date(2026, 1, 1)), {"old_code": "", "new_code": "9", "new_parent_code": "x"}),
    (ev.UnitMoved(unit_id=uuid.uuid4(), old_code="370705004001", new_code="370705005001", new_parent_code="370705005",
                  effective_on=date(2026, 1, 1)), {"new_parent_code": "111111111"}),
    (created("370705004009", "370705004", "community"), {"unit_code": "abc"}),
    (created("370705004009", "370705004", "community"), {"level": "planet"}),
    (created("370705004009", "370705004", "community"), {"parent_code": "999999"}),
])
async def test_a_malformed_registry_event_is_refused_and_writes_nothing(sessions, event, changes):
    # Refused, the consumer retries it and then dead-letters it; written, "false" was true, and an empty old code
    # re-coded every row of the replica.
    await apply_all(sessions, created("370705004", "370705", "street"), created("370705004001", "370705004", "community"))
    with pytest.raises(ValueError):
        async with transaction(sessions) as session:
            await replica.apply(session, tampered(event, **changes))
    async with transaction(sessions) as session:
        assert [u.code for u in await replica.descendants(session, "370705")] == ["370705004", "370705004001"]
        assert await replica.departments_for(session, "370705004001") == []


@pytest.mark.parametrize("make", [
    lambda unit: ev.UnitRetired(unit_id=unit.unit_id, unit_code=unit.unit_code, effective_on=date(2026, 2, 1)),
    lambda unit: ev.UnitRenamed(unit_id=unit.unit_id, unit_code=unit.unit_code, unit_name="新名",
                                effective_on=date(2026, 2, 1)),
])
async def test_a_change_to_a_unit_whose_creation_has_not_arrived_is_refused_so_it_comes_again_after_it(sessions, make):
    # The creation was dead-lettered: applied now and counted as done, the retirement or the new name would be lost
    # when the creation is sent again (it writes the unit as it was created).
    unit = created("370705004011", "370705004", "community", "老名")
    with pytest.raises(replica.UnitNotReplicated):
        await apply_all(sessions, make(unit))
    await apply_all(sessions, created("370705004", "370705", "street"), unit, make(unit))
    async with transaction(sessions) as session:
        got = await replica.get_unit(session, "370705004011")
    assert got.retired or got.unit_name == "新名"


async def test_a_move_of_a_unit_whose_creation_has_not_arrived_is_refused_so_it_comes_again_after_it(sessions):
    unit = created("370705004012", "370705004", "community", "新村")
    moved = ev.UnitMoved(unit_id=unit.unit_id, old_code="370705004012", new_code="370705005012",
                         new_parent_code="370705005", effective_on=date(2026, 2, 1))
    with pytest.raises(replica.UnitNotReplicated):
        await apply_all(sessions, moved)
    async with transaction(sessions) as session:  # nothing of the move was recorded
        assert await replica.codes_today(session, ["370705004012"]) == {"370705004012": "370705004012"}
    await apply_all(sessions, created("370705004", "370705", "street"), created("370705005", "370705", "street"),
                    unit, moved)
    async with transaction(sessions) as session:
        got = await replica.get_unit(session, "370705005012")
        assert await replica.get_unit(session, "370705004012") is None
        assert [u.code for u in await replica.children(session, "370705005")] == ["370705005012"]
    assert got is not None and got.unit_id == str(unit.unit_id) and got.parent_code == "370705005"
