"""A NUL character that reaches the database (which refuses it in text) is answered as bad input, not as a 500."""

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError

from youmin.kit.errors import install_error_handlers


class DatabaseError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def make_app(nul_sqlstate: str) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/nul")
    async def nul() -> dict:
        raise DBAPIError("SELECT $1", ("a\x00",), DatabaseError(nul_sqlstate))

    @app.get("/other")
    async def other() -> dict:
        raise DBAPIError("SELECT 1 FROM missing", {}, DatabaseError("42P01"))

    return app


# A NUL in a text value is refused with 22021; \u0000 inside a jsonb value with 22P05.
@pytest.mark.parametrize("sqlstate", ["22021", "22P05"])
async def test_a_nul_the_database_refuses_is_a_422_problem_and_other_database_errors_stay_500(sqlstate: str) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(make_app(sqlstate)), base_url="http://test") as client:
        nul, other = await client.get("/nul"), await client.get("/other")
    assert nul.status_code == 422
    assert nul.headers["content-type"] == "application/problem+json"
    assert nul.json()["type"] == "/problems/validation"
    assert other.status_code == 500
