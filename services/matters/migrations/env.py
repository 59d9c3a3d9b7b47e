"""Alembic environment of the matters service."""

from services.matters.models import Base
from youmin.kit.migrate import run_env

run_env(Base.metadata)
