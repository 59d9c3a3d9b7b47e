"""A NUL character that reaches the database (which refuses it in text) is answered as bad input, not as a 500."""

import httpx
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError

from youmin.kit.errors import CHARACTER_NOT_IN_REPERTOIRE, install_error_handlers


class NulRefused(Exception):
    sqlstate = CHARACTER_NOT_IN_REPERTOIRE


class OtherDatabaseError(Exception):
    sqlstate = "42P01"


def make_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/nul")
    async def nul() -> dict:
        raise DBAPIError("SELECT $1", ("a\x00",), NulRefused())

    @app.get("/other")
    async def other() -> dict:
        raise DBAPIError("SELECT 1 FROM missing", {}, OtherDatabaseError())

    return app


async def test_a_nul_the_database_refuses_is_a_422_problem_and_other_database_errors_stay_500() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(make_app()), base_url="http://test") as client:
        nul, other = await client.get("/nul"), await client.get("/other")
    assert nul.status_code == 422
    assert nul.headers["content-type"] == "application/problem+json"
    assert nul.json()["type"] == "/problems/validation"
    assert other.status_code == 500
