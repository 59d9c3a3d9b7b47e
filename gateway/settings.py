"""Settings of the gateway (env prefix GATEWAY_)."""

import json
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from youmin.kit.settings import DEFAULT_PORTS, ServiceSettings


class Settings(ServiceSettings):
    """Where the services are and how the gateway guards them."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", populate_by_name=True)

    name: str = "gateway"
    port: int = DEFAULT_PORTS["gateway"]
    registry_url: str = f"http://127.0.0.1:{DEFAULT_PORTS['registry']}"
    matters_url: str = f"http://127.0.0.1:{DEFAULT_PORTS['matters']}"
    mediation_url: str = f"http://127.0.0.1:{DEFAULT_PORTS['mediation']}"
    disclosure_url: str = f"http://127.0.0.1:{DEFAULT_PORTS['disclosure']}"
    upstream_timeout_seconds: float = 10.0
    upstream_connect_timeout_seconds: float = 2.0
    max_body_bytes: int = 1_048_576
    # The gateway publishes nothing; it consumes work-order changes to deliver department webhooks.
    relay_enabled: bool = False
    consumers_enabled: bool = True

    # Log-in: refresh-token families, lock-out and one-time codes.
    refresh_token_days: int = 30
    lockout_max_failures: int = 5
    lockout_ip_max_failures: int = 50
    lockout_minutes: int = 15
    otp_length: int = 6
    otp_minutes: int = 5
    otp_max_attempts: int = 5
    otp_resend_seconds: int = 30
    # Codes one phone is sent in 24 hours: a number being flooded with texts (or run up as a cost) stops there.
    otp_daily_max: int = Field(10, ge=1)
    # Codes asked for from one address (a /64 for IPv6) in an hour, whatever the phones: one client texting number
    # after number (a cost, and a nuisance to each) stops there. Generous, as many residents share a carrier's NAT
    # address; a burst of a sixth of it (at least 1) is allowed.
    otp_requests_per_address_hour: int = Field(120, ge=1)
    sms_sender: str = "console"  # console (development), http (the SMS relay below) or disabled (password only)
    sms_url: str = ""
    sms_token: str = ""

    # Hardening: token buckets (capacity, refill per second) per IP, per user and per API key.
    rate_limit_enabled: bool = True
    rate_limit_ip_capacity: float = 600
    rate_limit_ip_per_second: float = 100
    rate_limit_user_capacity: float = 300
    rate_limit_user_per_second: float = 50
    rate_limit_key_capacity: float = 300
    rate_limit_key_per_second: float = 50
    # The portal's origins: a JSON list, or comma-separated (GATEWAY_CORS_ORIGINS=https://a.example,https://b.example).
    cors_origins: Annotated[list[str], NoDecode] = ["http://127.0.0.1:8000", "http://localhost:8000"]

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            return json.loads(text) if text.startswith("[") else [part.strip() for part in text.split(",") if part.strip()]
        return value

    # Webhooks: retries with exponential backoff, then the subscription is disabled.
    webhook_enabled: bool = True
    webhook_poll_seconds: float = 0.5
    webhook_timeout_seconds: float = 5.0
    webhook_backoff_base_seconds: float = 2.0
    webhook_backoff_max_seconds: float = 3600.0
    # Attempts of one delivery: with the backoff at its cap, about 90 hours, beyond the age limit below, so that a
    # receiver down for a while misses no change (its subscription is disabled first, and its deliveries wait).
    webhook_max_attempts: int = 100
    webhook_disable_after_failures: int = 20
    # A change not delivered within this many hours (its subscription disabled meanwhile) is dropped: the feed has it.
    webhook_max_age_hours: float = 72.0
    # How long a department's webhook delivery log is kept (days).
    webhook_log_days: int = Field(30, ge=1)
    # How often spent codes, old refresh tokens, ended lock-outs and old delivery logs are deleted (seconds; 0: never).
    retention_sweep_seconds: float = Field(3600.0, ge=0)
    webhook_allow_private_urls: bool = False  # tests and development deliver to loopback receivers

    def service_urls(self) -> dict[str, str]:
        """Returns each service's base URL by name."""
        return {
            "registry": self.registry_url,
            "matters": self.matters_url,
            "mediation": self.mediation_url,
            "disclosure": self.disclosure_url,
        }
