"""Which database errors are "try again later" (an outage) and which are the data's fault."""

from __future__ import annotations

import pytest
from sqlalchemy import exc as sa_exc

from youmin.kit.db import is_transient


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _wrapped(cause: BaseException) -> sa_exc.DBAPIError:
    error = sa_exc.DBAPIError("SELECT 1", {}, cause)
    error.__cause__ = cause
    return error


@pytest.mark.parametrize("error", [
    ConnectionRefusedError(111, "refused"), ConnectionResetError(104, "reset"), TimeoutError(),
    sa_exc.TimeoutError("QueuePool limit reached"), _wrapped(_PgError("57P01")), _wrapped(_PgError("08006")),
    _wrapped(_PgError("40001")), _wrapped(_PgError("40P01")), _wrapped(_PgError("53300")),
])
def test_outages_and_conflicts_to_retry_are_transient(error):
    assert is_transient(error)


@pytest.mark.parametrize("error", [
    ValueError("bad data"), KeyError("unit_code"), _wrapped(_PgError("23505")), _wrapped(_PgError("22P02")),
    _wrapped(_PgError("42P01")),
])
def test_the_datas_own_faults_are_not(error):
    assert not is_transient(error)
