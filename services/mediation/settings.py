"""Settings of the mediation service (env prefix MEDIATION_)."""

from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from services.mediation.rules.ladder import LadderConfig, LegalRoute
from youmin.kit.calendar import usable_calendar_path
from youmin.kit.settings import ServiceSettings


class Settings(ServiceSettings):
    """The mediation service's settings.

    MEDIATION_LADDER is JSON, e.g. {"time_limit_days": {"grid": 5, "community": 7}, "yellow_lead_days": 2}.
    """

    model_config = SettingsConfigDict(env_prefix="MEDIATION_", extra="ignore", populate_by_name=True)

    name: str = "mediation"
    port: int = 8003
    ladder: dict[str, Any] = {}
    grid_serial_width: int = Field(3, ge=1, le=6)
    sweep_enabled: bool = True
    sweep_interval_seconds: float = Field(60.0, gt=0)
    sweep_batch_size: int = Field(500, ge=1)
    # Where a case overdue at the district goes when nobody referred it earlier (a labour dispute: arbitration).
    auto_referral_route: LegalRoute = LegalRoute.LITIGATION
    # Working-day calendar for the judicial-confirmation window: a JSON file {"holidays": [...], "extra_workdays":
    # [...]}; the shipped one if unset.
    calendar_path: str | None = None

    @field_validator("auto_referral_route")
    @classmethod
    def _a_route_for_any_case(cls, value: LegalRoute) -> LegalRoute:
        if value is LegalRoute.ENFORCEMENT:
            raise ValueError("enforcement is for a broken agreement the court confirmed, not for a case at the "
                             "ladder's end")
        return value

    @field_validator("calendar_path")
    @classmethod
    def _calendar_readable(cls, value: str | None) -> str | None:
        return usable_calendar_path(value)

    @field_validator("ladder")
    @classmethod
    def _valid_ladder(cls, value: dict[str, Any]) -> dict[str, Any]:
        LadderConfig.from_mapping(value)  # raises ValueError naming the bad key
        return value

    def ladder_config(self) -> LadderConfig:
        """Returns the validated ladder configuration."""
        return LadderConfig.from_mapping(self.ladder)
