"""Settings of the mediation service (env prefix MEDIATION_)."""

from pydantic_settings import SettingsConfigDict

from youmin.kit.settings import ServiceSettings


class Settings(ServiceSettings):
    """The mediation service's settings."""

    model_config = SettingsConfigDict(env_prefix="MEDIATION_", extra="ignore", populate_by_name=True)

    name: str = "mediation"
    port: int = 8003
