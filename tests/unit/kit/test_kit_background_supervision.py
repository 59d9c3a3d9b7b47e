"""A service's background jobs are started again when they fail or end."""

from __future__ import annotations

import asyncio

from youmin.kit.service import Background, _supervised


async def test_a_failing_job_is_started_again_until_cancelled():
    runs: list[int] = []

    async def flaky(app) -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("the database went away mid-sweep")
        if len(runs) == 2:
            return  # ended by itself
        await asyncio.Event().wait()  # the third run keeps going

    task = asyncio.create_task(_supervised(Background(name="sweeper", run=flaky), app=None, pause_seconds=0.01))
    for _ in range(200):
        if len(runs) == 3:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert runs == [0, 1, 2] and task.cancelled()
