"""The disclosure service's FastAPI app: staff API, public API, portal, event consumers, supervision sweep."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError

from services.disclosure.clock import Clock
from services.disclosure.consumers import disclosure_consumers
from services.disclosure.http import PublicRateLimit, RateLimiter, ResponseCache
from services.disclosure.portal import error_page
from services.disclosure.portal import router as portal_router
from services.disclosure.public import router as public_router
from services.disclosure.router import router
from services.disclosure.schemas import configure_grid_width
from services.disclosure.service import DisclosureService
from services.disclosure.settings import Settings
from youmin.kit.db import transaction
from youmin.kit.logging import get_logger
from youmin.kit.service import Background, create_service_app
from youmin.kit.errors import DomainError, describe_error

log = get_logger("youmin.disclosure")


async def sweep_forever(app: FastAPI) -> None:
    """Flags overdue answers to residents' questions every few minutes."""
    settings: Settings = app.state.settings
    while True:
        await asyncio.sleep(settings.supervision_sweep_seconds)
        try:
            async with transaction(app.state.sessions) as session:
                flagged = await DisclosureService(session, settings, app.state.clock()).sweep_overdue_answers()
            if flagged:
                log.info("supervision.flagged_overdue", count=len(flagged))
        except Exception as exc:  # noqa: BLE001 - the next sweep retries
            log.warning("supervision.sweep_failed", error=describe_error(exc))


def create_app(settings: Settings | None = None) -> FastAPI:
    """Builds the disclosure service; the codes it reads follow the grid serial width of its settings."""
    settings = settings or Settings()
    configure_grid_width(settings.grid_serial_width)
    clock = Clock()
    app = create_service_app(
        settings,
        title="Youmin disclosure: 三务公开",
        routers=[router, public_router, portal_router],
        consumers=disclosure_consumers(settings, clock),
        background=[Background("disclosure-supervision-sweep", sweep_forever,
                               enabled=lambda s: s.supervision_sweep_seconds > 0)],
        state={
            "clock": clock,
            "public_cache": ResponseCache(settings.public_cache_seconds),
            "rate_limiter": RateLimiter(settings.public_rate_per_second, settings.public_rate_burst),
        },
    )
    app.add_middleware(PublicRateLimit, limiter=app.state.rate_limiter)
    _portal_errors_as_pages(app)
    return app


def _portal_errors_as_pages(app: FastAPI) -> None:
    """A bad query value on a portal page (a resident's browser) is answered with the portal's Chinese error page,
    status kept (422); the JSON problem stays for the APIs."""
    for exc_class in (RequestValidationError, DomainError):
        default = app.exception_handlers[exc_class]

        async def handler(request: Request, exc: Exception, default=default) -> Response:
            if not request.url.path.startswith("/portal"):
                return await default(request, exc)
            return error_page("请求有误", "链接中的参数有误，请从首页重新进入。", status_code=422)

        app.add_exception_handler(exc_class, handler)
