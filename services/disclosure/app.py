"""The disclosure service's FastAPI app."""

from fastapi import FastAPI

from services.disclosure.router import router
from services.disclosure.settings import Settings
from youmin.kit.service import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    """Builds the disclosure service."""
    return create_service_app(settings or Settings(), title="Youmin disclosure: 三务公开", routers=[router])
