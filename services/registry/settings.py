"""Settings of the registry service (env prefix REGISTRY_)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from youmin.kit.settings import ServiceSettings


class Settings(ServiceSettings):
    """The registry service's settings."""

    model_config = SettingsConfigDict(env_prefix="REGISTRY_", extra="ignore", populate_by_name=True)

    name: str = "registry"
    port: int = 8001
    # The width of a grid's serial in its code: a grid is its community's 12 digits and this many more (3 by default).
    # The other services are told the same width (MATTERS_, MEDIATION_, DISCLOSURE_GRID_SERIAL_WIDTH).
    grid_serial_width: int = Field(3, ge=1, le=6)
    # How often those who have come of age (18) are looked for and published (0: never).
    coming_of_age_seconds: float = 3600.0
    # How often imports recorded as running with no live import behind them are marked failed (0: never; the first
    # sweep runs at start-up).
    import_sweep_seconds: float = 300.0
