"""A service's start-up heap is frozen out of the garbage collector's view while it serves, and thawed when it stops."""

from __future__ import annotations

import gc

from youmin.kit.service import create_service_app
from youmin.kit.settings import ServiceSettings
from youmin.testing import running


class ProbeSettings(ServiceSettings):
    name: str = "probe"


async def test_the_start_up_heap_is_frozen_while_serving_and_thawed_after() -> None:
    gc.unfreeze()
    settings = ProbeSettings(database_url="postgresql://nobody@127.0.0.1:9/none", relay_enabled=False,
                             consumers_enabled=False)
    app = create_service_app(settings, title="probe")
    async with running(app) as client:
        # Every module, model and route built so far is out of the collector's reach: full collections stay short.
        assert gc.get_freeze_count() > 10_000
        assert (await client.get("/healthz")).status_code == 200
    assert gc.get_freeze_count() == 0
