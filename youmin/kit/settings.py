"""Settings shared by every Youmin process, read from the environment (pydantic-settings)."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

SERVICES = ("registry", "matters", "mediation", "disclosure")
DEV_SIGNING_KEY = "youmin-development-signing-key-not-for-production"
DEFAULT_PORTS = {"gateway": 8000, "registry": 8001, "matters": 8002, "mediation": 8003, "disclosure": 8004}


class CommonSettings(BaseSettings):
    """Environment every process shares: where PostgreSQL and Kafka are, which environment this is."""

    model_config = SettingsConfigDict(env_prefix="YOUMIN_", extra="ignore", populate_by_name=True)

    # Shared variables keep their names whatever prefix a service's own settings use.
    environment: Literal["development", "test", "production"] = Field("development", validation_alias="YOUMIN_ENVIRONMENT")
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    kafka_bootstrap_servers: str = Field(default="127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    # Apache Kafka supports the idempotent producer; the local Tansu broker does not.
    kafka_idempotence: bool = Field(False, validation_alias="YOUMIN_KAFKA_IDEMPOTENCE")
    signing_key: str = Field(DEV_SIGNING_KEY, validation_alias="YOUMIN_SIGNING_KEY")
    jwt_issuer: str = Field("youmin", validation_alias="YOUMIN_JWT_ISSUER")
    access_token_minutes: int = Field(15, validation_alias="YOUMIN_ACCESS_TOKEN_MINUTES")
    log_level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(
        lambda value: value.upper() if isinstance(value, str) else value)] = Field("INFO", validation_alias="YOUMIN_LOG_LEVEL")
    log_json: bool = Field(True, validation_alias="YOUMIN_LOG_JSON")

    @model_validator(mode="after")
    def _own_key_in_production(self) -> CommonSettings:
        # The development key is public (it is in this file): in production anyone could sign a token with it.
        if self.environment == "production" and (self.signing_key == DEV_SIGNING_KEY or len(self.signing_key) < 32):
            raise ValueError("YOUMIN_SIGNING_KEY: production needs a signing key of its own, at least 32 characters "
                             "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')")
        return self


class ServiceSettings(CommonSettings):
    """Settings of one domain service; `name` picks its database and its client id.

    Subclasses set their own env prefix (REGISTRY_, MATTERS_, ...) for their own fields.
    """

    name: str
    host: str = "127.0.0.1"
    port: int = 8000
    service_database_url: str | None = None
    relay_enabled: bool = True
    relay_batch_size: int = 1000
    relay_poll_seconds: float = 0.5
    # A commit's notification wakes the relay this long before it reads: the commits of those moments go out in one
    # batch (one read, one send, one mark) rather than one by one, for at most this much more delay per event.
    relay_linger_seconds: float = Field(0.05, ge=0, le=5)
    # Sent outbox rows are kept this long (the publication log), then the relay deletes them.
    outbox_retention_hours: float = Field(168.0, gt=0)
    consumers_enabled: bool = True
    # Processed events are remembered in the inbox this long, then deleted (hourly): longer than any topic's
    # retention, so that a replay of a topic from its start still finds every event it already applied.
    inbox_retention_hours: float = Field(720.0, gt=0)
    consumer_max_attempts: int = 5
    consumer_stall_seconds: float = 60.0

    def db_url(self) -> str:
        """Returns the async SQLAlchemy URL of this service's own database."""
        if self.service_database_url:
            return to_async_url(self.service_database_url)
        return service_database_url(self.database_url or "postgresql://postgres@127.0.0.1:5432/postgres", self.name)


def to_async_url(url: str) -> str:
    """Rewrites a postgres URL to use the asyncpg driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def service_database_url(server_url: str, service: str, suffix: str = "") -> str:
    """Returns the URL of a service's database on the given server (`youmin_<service>`)."""
    parsed = make_url(to_async_url(server_url)).set(database=f"youmin_{service}{suffix}")
    return parsed.render_as_string(hide_password=False)


@lru_cache
def common_settings() -> CommonSettings:
    """Returns the process-wide common settings (cached; tests build their own)."""
    return CommonSettings()
