"""Fresh places for mediation tests: a made-up district subtree with mediators and residents."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import date

from cloudevents.core.base import BaseCloudEvent

from services.registry.events import ResidencyChanged, RoleGranted, UnitCreated
from youmin.kit.events import Envelope, Event, decode_record


def cloud_event(event: Event) -> BaseCloudEvent:
    """Turns an event model into the CloudEvent a consumer would receive."""
    envelope = Envelope.of(event)
    return decode_record(envelope.headers(), envelope.key.encode(), envelope.value())


@dataclass
class Place:
    """A fresh district → street → community → two grids subtree, with mediators and residents."""

    district: str
    street: str
    community: str
    grid: str
    other_grid: str
    mediators: dict[str, str] = field(default_factory=dict)  # label -> person id
    residents: dict[str, str] = field(default_factory=dict)  # label -> person id
    households: dict[str, str] = field(default_factory=dict)  # label -> household code

    def household(self, grid: str, serial: int) -> str:
        return f"{grid}001{serial:02d}{serial:04d}"


def fresh_place() -> Place:
    """Returns unique codes: a made-up district per test, so no other test's mediators are in scope."""
    district = f"9{random.randrange(10**5):05d}"
    street = f"{district}{random.randrange(1, 100):03d}"
    community = f"{street}{random.randrange(1, 200):03d}"
    return Place(district, street, community, f"{community}001", f"{community}002")


def registry_events(place: Place) -> list[Event]:
    """The registry events that describe a place: units, mediators (one living with party A), residents."""
    on = date(2026, 1, 1)
    units = [(place.district, None, "district"), (place.street, place.district, "street"),
             (place.community, place.street, "community"), (place.grid, place.community, "grid"),
             (place.other_grid, place.community, "grid")]
    events: list[Event] = [UnitCreated(unit_id=uuid.uuid4(), unit_code=code, parent_code=parent, level=level,
                                       unit_name=None, effective_on=on) for code, parent, level in units]
    place.households = {"a": place.household(place.grid, 1), "b": place.household(place.grid, 2),
                        "c": place.household(place.other_grid, 3)}
    place.residents = {label: str(uuid.uuid4()) for label in ("a", "b", "c", "a_spouse")}
    homes = {"a": "a", "b": "b", "c": "c", "a_spouse": "a"}
    place.mediators = {label: str(uuid.uuid4()) for label in ("grid_1", "grid_2", "other_grid", "community",
                                                               "street", "district")}
    scopes = {"grid_1": place.grid, "grid_2": place.grid, "other_grid": place.other_grid,
              "community": place.community, "street": place.street, "district": place.district}
    for label, person in place.mediators.items():
        events.append(RoleGranted(grant_id=uuid.uuid4(), person_id=uuid.UUID(person), role="mediator",
                                  scope_code=scopes[label], effective_on=on))
    for label, person in place.residents.items():
        events.append(ResidencyChanged(person_id=uuid.UUID(person), household_code=place.households[homes[label]],
                                       adult=True, effective_on=on))
    # grid_2 lives with party A: a conflict of interest whenever A is a party.
    events.append(ResidencyChanged(person_id=uuid.UUID(place.mediators["grid_2"]),
                                   household_code=place.households["a"], adult=True, effective_on=on))
    return events
