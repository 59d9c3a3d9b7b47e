"""Alembic environment of the disclosure service."""

from services.disclosure.models import Base
from youmin.kit.migrate import run_env

run_env(Base.metadata)
