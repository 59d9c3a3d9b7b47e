"""Settings of the disclosure service (env prefix DISCLOSURE_)."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.disclosure.rules.cadence import CadencePolicy
from services.disclosure.rules.redaction import RedactionConfig
from youmin.kit.settings import ServiceSettings


class CachedRedactionConfig(RedactionConfig):
    """The redaction rules with their key decisions memoised (the same few keys recur in every item)."""

    @lru_cache(maxsize=4096)  # noqa: B019 - the config is immutable and lives as long as the process
    def is_sensitive(self, key: str) -> bool:
        return super().is_sensitive(key)

    @lru_cache(maxsize=4096)  # noqa: B019
    def is_address_key(self, key: str) -> bool:
        return super().is_address_key(key)

    @lru_cache(maxsize=4096)  # noqa: B019
    def is_name_key(self, key: str) -> bool:
        return super().is_name_key(key)


@lru_cache(maxsize=16)
def _redaction_config(serialised: str) -> RedactionConfig:
    return CachedRedactionConfig.from_mapping(json.loads(serialised))


class Settings(ServiceSettings):
    """The disclosure service's settings."""

    model_config = SettingsConfigDict(env_prefix="DISCLOSURE_", extra="ignore", populate_by_name=True)

    name: str = "disclosure"
    port: int = 8004
    # Appended to the consumer group names (tests run several instances against one broker).
    consumer_group_suffix: str = ""
    # Redaction (PIPL Art. 25): {"masking": {"name": "surname", "address": "community",
    # "extra_health_terms": [...], ...}, "extra_sensitive_keys": [...], "extra_address_keys": [...]}.
    # Set as JSON in DISCLOSURE_REDACTION.
    redaction: dict[str, Any] = Field(default_factory=dict)
    # The width of a grid's serial after its community's 12 digits (the registry's scheme): staff post at a grid or
    # above, never at a building, building unit or household, whose code and name would locate homes.
    grid_serial_width: int = Field(3, ge=1, le=6)
    # Minimum display and objection/answer windows (calendar days, Asia/Shanghai).
    min_display_days: int = 5
    objection_days: int = 5
    answer_days: int = 5
    # Questions and objections one person may put to one item (each is shown publicly and must be answered).
    max_questions_per_person: int = 5
    # Public API: cache lifetime for browsers and CDNs, the in-process micro-cache, rate limits per client.
    public_max_age_seconds: int = 30
    public_cache_seconds: float = 0.2
    public_rate_per_second: float = 30.0
    public_rate_burst: int = 120
    public_page_size: int = 20
    # Where the public reaches the portal (e.g. https://sanwu.kuiwen.gov.cn), for the Atom feeds' links; empty:
    # the links are relative to the feed's own address.
    public_base_url: str = ""
    public_page_size_max: int = 200
    # How often the supervision sweep flags overdue answers (seconds; 0 disables the background sweep).
    supervision_sweep_seconds: float = 300.0

    def redaction_config(self) -> RedactionConfig:
        """Returns the redaction rules built from configuration."""
        return _redaction_config(json.dumps(self.redaction, sort_keys=True))

    def cadence_policy(self) -> CadencePolicy:
        """Returns the cadence policy with the configured minimum display."""
        return CadencePolicy(min_display_days=self.min_display_days)
