"""Alembic environment of the mediation service."""

from services.mediation.models import Base
from youmin.kit.migrate import run_env

run_env(Base.metadata)
