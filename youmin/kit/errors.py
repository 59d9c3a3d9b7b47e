"""Domain errors and their problem+json (RFC 9457) rendering."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from youmin.kit.logging import get_logger

log = get_logger("youmin.errors")

PROBLEM = "application/problem+json"


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
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        out.append({"field": ".".join(loc) or "body", "reason": err.get("msg", "invalid")})
    return out


def install_error_handlers(app: FastAPI) -> None:
    """Renders every error of the app as problem+json."""

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
        if exc.connection_invalidated or isinstance(exc.orig, OSError):
            response = problem(503, "Service unavailable", "the database is unavailable; retry shortly",
                               "/problems/database-unavailable")
            response.headers["Retry-After"] = "1"
            return response
        log.exception("database.error")
        return problem(500, "Internal error", "an unexpected database error occurred", "/problems/internal")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), str(exc.detail))
