"""Alembic environment of the gateway."""

from gateway.models import Base
from youmin.kit.migrate import run_env

run_env(Base.metadata)
