"""Settings of the matters service (env prefix MATTERS_)."""

from fractions import Fraction

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from youmin.kit.calendar import usable_calendar_path
from youmin.kit.settings import ServiceSettings


class Settings(ServiceSettings):
    """The matters service's settings."""

    model_config = SettingsConfigDict(env_prefix="MATTERS_", extra="ignore", populate_by_name=True)

    name: str = "matters"
    port: int = 8002
    # The width of a grid's serial in its code (the registry's scheme; 3 digits by default).
    grid_serial_width: int = Field(3, ge=1, le=6)
    # The template of a community that has not chosen one yet.
    default_template: str = "weiwan-five-democracy"
    # 民事民评: ratings needed before a matter closes, and the bad share (exclusive) that reopens it (重办).
    evaluation_min_ratings: int = Field(5, ge=1)
    evaluation_reopen_bad_share: str = "1/3"

    @field_validator("evaluation_reopen_bad_share")
    @classmethod
    def _a_share(cls, value: str) -> str:
        # Checked at start-up, not at the first rating (a 500 then).
        try:
            share = Fraction(value)
        except (ValueError, ZeroDivisionError):
            raise ValueError("must be a fraction such as 1/3") from None
        if not 0 <= share < 1:
            raise ValueError("must lie in [0, 1)")
        return value
    # Calendar days the residents have to rate: before they pass, only their ratings close a matter; after, staff may
    # close one that did not get enough ratings.
    evaluation_days: int = Field(15, ge=0)
    # Similar titles in the same community at or above this score are suggested as duplicates.
    duplicate_threshold: float = Field(0.5, ge=0.0, le=1.0)
    # Working-day calendar: a JSON file {"holidays": [...], "extra_workdays": [...]}; the shipped one if unset.
    calendar_path: str | None = None

    @field_validator("calendar_path")
    @classmethod
    def _calendar_readable(cls, value: str | None) -> str | None:
        return usable_calendar_path(value)
    # How often the deadline sweeper raises yellow and red warnings (and closes the votes whose time is up).
    sweep_seconds: float = Field(300.0, gt=0)
    # How long a vote whose window has ended stays open for the paper tallies of meetings held in it to be entered;
    # then the service closes it, counts it and decides the matter, if staff have not.
    vote_close_grace_hours: float = Field(24.0, ge=0, le=24 * 30)
    sweep_enabled: bool = True
    # How often online choices are moved from the ballot box into their votes' totals: a choice lies beside its
    # voter's participation row (same transaction) until then, so this stays short.
    ballot_mix_seconds: float = Field(1.0, gt=0, le=60)
    # A token's scopes are read as today's codes (a token issued before a unit moved names its old code) from the moves
    # as read at most this long ago: moves are rare, and a look-up per request would cost every request.
    moves_read_seconds: float = Field(2.0, ge=0, le=60)
    # The longest a vote may be announced to stay open (closes_at): it is not closed before then unless all have voted.
    vote_max_days: int = Field(90, ge=1, le=366)
