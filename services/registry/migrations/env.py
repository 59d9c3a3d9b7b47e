"""Alembic environment of the registry service."""

from services.registry.models import Base
from youmin.kit.migrate import run_env

run_env(Base.metadata)
