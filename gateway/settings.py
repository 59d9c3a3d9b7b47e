"""Settings of the gateway (env prefix GATEWAY_)."""

from pydantic_settings import SettingsConfigDict

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
    relay_enabled: bool = False
    consumers_enabled: bool = False

    def service_urls(self) -> dict[str, str]:
        """Returns each service's base URL by name."""
        return {
            "registry": self.registry_url,
            "matters": self.matters_url,
            "mediation": self.mediation_url,
            "disclosure": self.disclosure_url,
        }
