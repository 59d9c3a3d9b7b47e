"""A query parameter the route takes once is refused when given twice, instead of one value being kept silently."""

from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI, Query

from youmin.kit.errors import install_error_handlers, refuse_repeated_query_parameters


def paging(limit: int = 10) -> int:
    return limit


def make_app() -> FastAPI:
    app = FastAPI(dependencies=[Depends(refuse_repeated_query_parameters)])
    install_error_handlers(app)

    @app.get("/search")
    async def search(q: str, limit: Annotated[int, Depends(paging)],
                     tag: Annotated[list[str] | None, Query()] = None) -> dict:
        return {"q": q, "limit": limit, "tag": tag}

    return app


@pytest.fixture
async def client():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(make_app()), base_url="http://test") as c:
        yield c


async def test_a_single_valued_parameter_given_twice_is_refused_naming_it(client) -> None:
    resp = await client.get("/search?q=a&q=b")
    assert resp.status_code == 422
    assert resp.json()["errors"] == [{"field": "q", "reason": "must be given once"}]


async def test_a_parameter_of_a_dependency_counts_too(client) -> None:
    resp = await client.get("/search?q=a&limit=1&limit=2")
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "limit"


async def test_list_parameters_and_unknown_ones_may_repeat(client) -> None:
    resp = await client.get("/search?q=a&tag=x&tag=y&other=1&other=2")
    assert resp.status_code == 200
    assert resp.json() == {"q": "a", "limit": 10, "tag": ["x", "y"]}
