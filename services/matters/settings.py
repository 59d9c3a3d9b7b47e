"""Settings of the matters service (env prefix MATTERS_)."""

from pydantic_settings import SettingsConfigDict

from youmin.kit.settings import ServiceSettings


class Settings(ServiceSettings):
    """The matters service's settings."""

    model_config = SettingsConfigDict(env_prefix="MATTERS_", extra="ignore", populate_by_name=True)

    name: str = "matters"
    port: int = 8002
