"""A query parameter the route takes once is refused when given twice, instead of one value being kept silently."""

import typing
from collections.abc import Sequence
from typing import Annotated, Optional

import httpx
import pytest
from fastapi import Depends, FastAPI, Query
from pydantic import AfterValidator

from youmin.kit.errors import install_error_handlers, refuse_repeated_query_parameters


def paging(limit: int = 10) -> int:
    return limit


# A list type carrying its own validator: optional, it reaches the check as Optional[Annotated[list[str], ...]].
Labels = Annotated[list[str], AfterValidator(lambda labels: [label.lower() for label in labels])]


def make_app() -> FastAPI:
    app = FastAPI(dependencies=[Depends(refuse_repeated_query_parameters)])
    install_error_handlers(app)

    @app.get("/search")
    async def search(q: str, limit: Annotated[int, Depends(paging)],
                     tag: Annotated[list[str] | None, Query()] = None) -> dict:
        return {"q": q, "limit": limit, "tag": tag}

    @app.get("/kinds")
    async def kinds(seq: Annotated[Sequence[str], Query()] = (),
                    typed_seq: Annotated[typing.Sequence[int], Query()] = (),
                    optional_annotated: Annotated[Labels | None, Query()] = None,
                    optional_tuple: Annotated[Optional[tuple[int, ...]], Query()] = None,
                    one_of_set: Annotated[set[str] | frozenset[str] | None, Query()] = None,
                    bare: Annotated[list, Query()] = [],  # noqa: B006
                    single: Annotated[str | None, Query()] = None) -> dict:
        return {"seq": list(seq), "typed_seq": list(typed_seq), "optional_annotated": optional_annotated,
                "optional_tuple": optional_tuple, "one_of_set": sorted(one_of_set or ()), "bare": bare, "single": single}

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


async def test_sequence_tuple_set_and_annotated_optional_list_parameters_may_repeat(client) -> None:
    resp = await client.get("/kinds?seq=a&seq=b&typed_seq=1&typed_seq=2&optional_annotated=C&optional_annotated=d"
                            "&optional_tuple=3&optional_tuple=4&one_of_set=e&one_of_set=f&bare=g&bare=h")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"seq": ["a", "b"], "typed_seq": [1, 2], "optional_annotated": ["c", "d"],
                           "optional_tuple": [3, 4], "one_of_set": ["e", "f"], "bare": ["g", "h"], "single": None}


async def test_an_optional_text_parameter_given_twice_is_still_refused(client) -> None:
    resp = await client.get("/kinds?single=a&single=b&seq=x&seq=y")
    assert resp.status_code == 422
    assert resp.json()["errors"] == [{"field": "single", "reason": "must be given once"}]
