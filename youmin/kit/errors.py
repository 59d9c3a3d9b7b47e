"""Domain errors and their problem+json (RFC 9457) rendering."""

from __future__ import annotations

from collections.abc import Sequence, Set as AbstractSet
from datetime import UTC, datetime
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError, ValidationException
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, field_validator
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from youmin.kit.db import is_transient
from youmin.kit.logging import get_logger

log = get_logger("youmin.errors")

PROBLEM = "application/problem+json"
NUL_REASON = "must not contain a NUL character (\\u0000)"
# The SQLSTATEs PostgreSQL answers a NUL character with: in text (character_not_in_repertoire) and as \u0000 inside
# a jsonb value (untranslatable_character).
CHARACTER_NOT_IN_REPERTOIRE = "22021"
UNTRANSLATABLE_CHARACTER = "22P05"
NUL_SQLSTATES = (CHARACTER_NOT_IN_REPERTOIRE, UNTRANSLATABLE_CHARACTER)
UNIQUE_VIOLATION = "23505"


def _database_error(exc: BaseException) -> BaseException | None:
    """The database's own error behind an exception (the driver's innermost one carrying the SQLSTATE, which also
    names the constraint), if there is one."""
    seen: set[int] = set()
    found: BaseException | None = None
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(getattr(current, "sqlstate", None), str):
            found = current
        current = getattr(current, "orig", None) or current.__cause__
    return found


def describe_error(exc: BaseException) -> str:
    """One line about an error, fit for logs and dead letters. A database error gives its kind, SQLSTATE and the
    constraint it broke, not its text: the message and DETAIL quote the row's values (names, phone and ID numbers).
    A validation error gives its field paths, kinds and reasons. Any other error gives its message with phone and ID
    numbers and e-mail addresses masked."""
    from youmin.kit.pii import redact_text

    from pydantic import ValidationError

    db = _database_error(exc)
    if db is not None:
        state = getattr(db, "sqlstate")
        constraint = getattr(db, "constraint_name", None)
        table = getattr(db, "table_name", None)
        where = f", {table}.{constraint}" if table and constraint else (f", {constraint}" if constraint else "")
        # A statement the database could not take (class 42: an unknown column or relation, a syntax error) quotes
        # the statement, not a row: its first line says what to fix.
        said = f": {str(db).splitlines()[0]}" if state.startswith("42") and str(db) else ""
        return f"{type(exc).__name__}: {type(db).__name__} (SQLSTATE {state}{where}){said}"
    if isinstance(exc, ValidationError):
        # Field paths and reasons, not the values given (a name or phone number may be among them).
        said = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                         for e in exc.errors(include_url=False, include_input=False))
        return f"{type(exc).__name__}: {said}"
    if isinstance(exc, ValidationException):
        # FastAPI's own (a request's, or a response its route's model refused): its text quotes each error's input,
        # for a response the whole record (a name, a phone number, an address). Paths, kinds and reasons only.
        said = "; ".join(_validation_error_line(e) for e in exc.errors())
        where = f" ({exc.endpoint_path})" if exc.endpoint_path else ""
        return redact_text(f"{type(exc).__name__}{where}: {said}")
    return " | ".join(redact_text(f"{type(exc).__name__}: {exc}").splitlines())


def _validation_error_line(error: Any) -> str:
    """One error of a FastAPI validation error, without its input and context values."""
    if not isinstance(error, dict):
        return type(error).__name__
    return f"{'.'.join(map(str, error.get('loc', ())))}: {error.get('msg', 'invalid')} [{error.get('type', '?')}]"


def describe_trace(exc: BaseException) -> str:
    """The traceback of an error and its causes, each described by describe_error (no raw message)."""
    import traceback

    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return "".join("".join(traceback.format_tb(e.__traceback__)) + describe_error(e) + "\n" for e in reversed(chain))


def has_nul(value: Any) -> bool:
    """Returns whether a string, or any string within lists, dicts and models, holds a NUL character (no text
    column can store one)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, BaseModel):
        return has_nul(value.model_dump())
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    return False


def no_nul(value: str | None) -> str | None:
    """Refuses a query or path text holding a NUL character (PostgreSQL refuses it in text: 422, not 500)."""
    if value is not None and "\x00" in value:
        raise ValueError(NUL_REASON)
    return value


# A query or path text parameter that may reach the database.
SafeStr = Annotated[str, AfterValidator(no_nul)]


def storable_instant(value: datetime) -> datetime:
    """Refuses an instant that is not one: a time without a zone (09:00 where? Read as UTC it would be 17:00 in
    Kuiwen), or one whose UTC time falls outside the years 1 to 9999 (the driver converts to UTC and overflows)."""
    if value.tzinfo is None:
        raise ValueError("must carry its time zone, e.g. 2026-11-29T09:00:00+08:00")
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("must lie within the years 1 to 9999 in UTC") from None
    return value


Instant = Annotated[datetime, AfterValidator(storable_instant)]


class RequestBody(BaseModel):
    """Base of every service's request bodies: unknown fields and NUL characters in any text field are refused
    (422, naming the field)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _refuse_nul(cls, value: Any) -> Any:
        if has_nul(value):
            raise ValueError(NUL_REASON)
        return value


class TrimmedBody(RequestBody):
    """A request body whose text fields are trimmed: a text of spaces alone is no text, refused by its min_length
    (422 naming the field), where an accepted one would stand for an answer or a reason."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DomainError(Exception):
    """A refused request; carries its HTTP status, problem type and extra members."""

    status = 400
    type = "about:blank"
    title = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(DomainError):
    status, type, title = 404, "/problems/not-found", "Not found"


class PersonUnknown(NotFound):
    """The registry holds no person with the id asked about; its own type tells this apart from a missing route."""

    type, title = "/problems/person-unknown", "Person unknown"


class Conflict(DomainError):
    status, type, title = 409, "/problems/conflict", "Conflict"


class RuleViolation(DomainError):
    """A domain rule refused the request; `rule` names it."""

    status, type, title = 422, "/problems/rule-violation", "Rule violation"

    def __init__(self, rule: str, detail: str, **extra: Any) -> None:
        super().__init__(detail, rule=rule, **extra)


class Unauthorized(DomainError):
    status, type, title = 401, "/problems/unauthorized", "Unauthorized"


class Forbidden(DomainError):
    status, type, title = 403, "/problems/forbidden", "Forbidden"


def problem(status: int, title: str, detail: str, type_: str = "about:blank", **extra: Any) -> JSONResponse:
    """Builds a problem+json response."""
    # The standard members cannot be overridden by extension members.
    body = {**extra, "type": type_, "title": title, "status": status, "detail": detail}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def domain_problem(exc: DomainError) -> JSONResponse:
    """Renders a refused request as problem+json."""
    return problem(exc.status, exc.title, exc.detail, exc.type, **exc.extra)


def field_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    """Turns pydantic errors into [{field, reason}] with dotted field paths."""
    out = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            # The location of a JSON syntax error is its position in the text, not a field.
            position = next((p for p in err.get("loc", ()) if isinstance(p, int)), None)
            reason = err.get("msg", "invalid JSON") + (f" at character {position}" if position is not None else "")
            out.append({"field": "body", "reason": reason})
            continue
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        out.append({"field": ".".join(loc) or "body", "reason": err.get("msg", "invalid")})
    return out


def _takes_many(annotation: Any) -> bool:
    """Returns whether a query parameter's annotation takes several values (a list, tuple, set or sequence of them,
    possibly optional or annotated)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _takes_many(get_args(annotation)[0])
    if origin in (Union, UnionType):
        return any(_takes_many(arg) for arg in get_args(annotation))
    kind = origin or annotation
    # str is a Sequence too, but one query value.
    return (isinstance(kind, type) and not issubclass(kind, (str, bytes))
            and issubclass(kind, (list, tuple, set, frozenset, Sequence, AbstractSet)))


def _single_valued_query(route: Any) -> set[str]:
    """Returns the query parameters a route (with its dependencies) takes one value of."""
    names, dependants = set(), [route.dependant]
    while dependants:
        dependant = dependants.pop()
        names.update(f.alias for f in dependant.query_params if not _takes_many(f.field_info.annotation))
        dependants.extend(dependant.dependencies)
    return names


async def refuse_repeated_query_parameters(request: Request) -> None:
    """App dependency: refuses a query parameter given more than once where the route takes a single value
    (which would otherwise keep one of the values silently). Only a query with a repeated name is looked into."""
    query = request.query_params
    if len(query.multi_items()) == len(query) or (route := request.scope.get("route")) is None:
        return
    repeated = [name for name in _single_valued_query(route) if len(query.getlist(name)) > 1]
    if repeated:
        raise RequestValidationError([{"type": "value_error", "loc": ("query", name), "msg": "must be given once"}
                                      for name in sorted(repeated)])


def database_unavailable() -> JSONResponse:
    """The answer while the database is out of reach: 503, to be retried shortly."""
    response = problem(503, "Service unavailable", "the database is unavailable; retry shortly",
                       "/problems/database-unavailable")
    response.headers["Retry-After"] = "1"
    return response


def database_problem(exc: BaseException, orig: BaseException | None, *, unavailable: bool = False) -> JSONResponse:
    """The answer to a database error: 503 when the database is out of reach (`unavailable`: the connection was lost)
    or cannot take work for now, 409 for a lost race or a concurrent change, 422 for a NUL character, else 500
    (logged). `orig` is the driver's error (SQLAlchemy's `orig`, or asyncpg's own when a statement went to it
    directly)."""
    if unavailable:
        return database_unavailable()
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate == UNIQUE_VIOLATION:
        # A check-then-insert lost a race to a concurrent request: the same conflict the check would have found.
        cause = _database_error(exc)
        constraint, table = getattr(cause, "constraint_name", None) or "", getattr(cause, "table_name", None) or ""
        prefix = f"uq_{table}_"  # the naming convention of youmin.kit.db
        field = constraint[len(prefix):] if table and constraint.startswith(prefix) else None
        return problem(409, "Conflict", f"{field or 'the record'}: conflicts with one that exists already",
                       "/problems/conflict", **({"field": field} if field else {}))
    if sqlstate in ("40001", "40P01"):
        # Two requests changing the same records at once, one of them stopped by the database: nothing of it was
        # written, and the same request goes through when sent again.
        response = problem(409, "Conflict", "a concurrent change to the same records got in the way; nothing was "
                           "written: send the request again", "/problems/concurrent-change")
        response.headers["Retry-After"] = "1"
        return response
    if is_transient(exc):
        # Out of reach or not taking work for now, whatever the request: a refused or timed-out connection, a server
        # starting up or shutting down (57P0x), too many connections or a full disk (53xxx), a standby that is
        # read-only during a failover (25006), a lock not had in time (55P03).
        return database_unavailable()
    if sqlstate in NUL_SQLSTATES:
        # A NUL character that no request validator caught reached a query: bad input all the same.
        log.warning("database.nul_refused")
        return problem(422, "Validation failed", f"input: {NUL_REASON}", "/problems/validation",
                       errors=[{"field": "input", "reason": NUL_REASON}])
    log.error("database.error", error=describe_error(exc), trace=describe_trace(exc))
    return problem(500, "Internal error", "an unexpected database error occurred", "/problems/internal")


def unexpected_problem(exc: BaseException) -> JSONResponse:
    """The answer to a fault no handler knows (a defect): 500, logged with its trace, described without its values."""
    log.error("request.unexpected_error", error=describe_error(exc), trace=describe_trace(exc))
    return problem(500, "Internal error", "an unexpected error occurred", "/problems/internal")


# Errors about the service's own files (a defect or a broken deployment), not about a peer out of reach.
_FILE_ERRORS = (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError)
_DATABASE_PACKAGES = frozenset({"asyncpg", "sqlalchemy"})


def _raised_by_database(exc: BaseException) -> bool:
    """Tells whether an error was raised on the way to the database: in the driver, or in SQLAlchemy's pool opening a
    connection (neither wraps a refused connection or a connect timeout)."""
    tb = exc.__traceback__
    while tb is not None:
        if str(tb.tb_frame.f_globals.get("__name__", "")).partition(".")[0] in _DATABASE_PACKAGES:
            return True
        tb = tb.tb_next
    return False


def unreachable_problem(exc: OSError) -> JSONResponse:
    """The answer to a raw network error or timeout no one caught: the database (or another peer) is out of reach
    for now, 503. An error about the service's own files is a defect, 500."""
    if _raised_by_database(exc):
        return database_unavailable()
    if isinstance(exc, _FILE_ERRORS):
        return unexpected_problem(exc)
    log.warning("request.peer_unavailable", error=describe_error(exc), trace=describe_trace(exc))
    response = problem(503, "Service unavailable", "a service this one depends on is unavailable; retry shortly",
                       "/problems/temporarily-unavailable")
    response.headers["Retry-After"] = "1"
    return response


class AnswerUnexpectedErrors:
    """Pure ASGI middleware, inside the request context (youmin.kit.service.RequestContextMiddleware): answers an
    error no exception handler took with the 500 problem, logged once and masked, and ends there.

    Left to Starlette's ServerErrorMiddleware, outermost, the error is answered outside the request context (no
    request id on the answer or the log line) and then raised on to the server, which logs it again with its raw
    message (a name, a phone number)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:  # noqa: BLE001 - answered (or, past the response's start, logged) here
            response = unexpected_problem(exc)
            # A response already under way cannot be replaced: the server closes the connection on its own.
            if not started:
                await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    """Renders every error of the app as problem+json. Installed before the app's middleware, so that a defect is
    answered inside it (AnswerUnexpectedErrors)."""

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        return domain_problem(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = field_errors(exc)
        detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
        return problem(422, "Validation failed", detail, "/problems/validation", errors=errors)

    @app.exception_handler(DBAPIError)
    async def _database(_: Request, exc: DBAPIError) -> JSONResponse:
        return database_problem(exc, exc.orig, unavailable=exc.connection_invalidated)

    # The hot write paths send their statements to asyncpg directly (youmin.kit.db.driver_connection): its errors
    # come as they are, and are answered as SQLAlchemy's are.
    @app.exception_handler(asyncpg.PostgresError)
    async def _driver(_: Request, exc: asyncpg.PostgresError) -> JSONResponse:
        return database_problem(exc, exc)

    @app.exception_handler(asyncpg.InterfaceError)
    async def _driver_connection(_: Request, exc: asyncpg.InterfaceError) -> JSONResponse:
        # "connection is closed", "connection was closed in the middle of operation": the database is out of reach
        # (youmin.kit.db.is_transient).
        return database_problem(exc, exc)

    # Opening a connection, asyncpg raises a refused connection (ConnectionRefusedError, or OSError for several
    # addresses) and its connect timeout (TimeoutError, an OSError too) as they are, and SQLAlchemy's pool passes them
    # on unwrapped.
    @app.exception_handler(OSError)
    async def _unreachable(_: Request, exc: OSError) -> JSONResponse:
        return unreachable_problem(exc)

    @app.exception_handler(PoolTimeout)
    async def _pool_exhausted(_: Request, exc: PoolTimeout) -> JSONResponse:
        # Every connection of the service's pool stayed busy for the pool timeout: a load to shed, not a fault.
        log.warning("database.pool_exhausted")
        response = problem(503, "Service unavailable", "the service is busy; retry shortly", "/problems/busy")
        response.headers["Retry-After"] = "1"
        return response

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = problem(exc.status_code, str(exc.detail), str(exc.detail))
        response.headers.update(exc.headers or {})  # a 405's Allow, a 401's WWW-Authenticate
        return response

    # The last resort, for a fault no handler above knows (a defect): the client still gets problem+json, and the
    # error is logged once, masked. Answered inside the app's middleware (added first, so innermost); the handler
    # below is Starlette's ServerErrorMiddleware's, for a fault of a middleware outside it (which that middleware
    # then raises on to the server).
    app.add_middleware(AnswerUnexpectedErrors)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return unexpected_problem(exc)
