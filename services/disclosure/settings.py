"""Settings of the disclosure service (env prefix DISCLOSURE_)."""

from pydantic_settings import SettingsConfigDict

from youmin.kit.settings import ServiceSettings


class Settings(ServiceSettings):
    """The disclosure service's settings."""

    model_config = SettingsConfigDict(env_prefix="DISCLOSURE_", extra="ignore", populate_by_name=True)

    name: str = "disclosure"
    port: int = 8004
