"""deploy/docker-compose.yml describes the production shape completely."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
APPS = {"registry", "matters", "mediation", "disclosure", "gateway"}


def compose() -> dict:
    return yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text(encoding="utf-8"))


def test_every_service_has_an_image_or_build_its_environment_and_a_health_check():
    services = compose()["services"]
    assert APPS | {"postgres", "kafka"} <= set(services)
    for name in APPS | {"postgres", "kafka"}:
        svc = services[name]
        assert "image" in svc or "build" in svc, name
        assert svc.get("environment"), name
        assert svc["healthcheck"]["test"], name


def test_services_are_wired_to_kafka_postgres_and_each_other():
    services = compose()["services"]
    for name in APPS:
        env = services[name]["environment"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["DATABASE_URL"].startswith("postgresql://") and "@postgres:5432/" in env["DATABASE_URL"]
        assert env["YOUMIN_KAFKA_IDEMPOTENCE"] == "true", "Apache Kafka runs with the idempotent producer"
    gateway = services["gateway"]["environment"]
    for name in APPS - {"gateway"}:
        assert gateway[f"GATEWAY_{name.upper()}_URL"].startswith(f"http://{name}:")


def test_kafka_runs_in_kraft_mode_without_zookeeper():
    services = compose()["services"]
    env = services["kafka"]["environment"]
    assert "controller" in env["KAFKA_PROCESS_ROLES"] and "KAFKA_CONTROLLER_QUORUM_VOTERS" in env
    assert not any("zookeeper" in name for name in services)


def test_migrations_run_before_the_services_start():
    services = compose()["services"]
    assert services["migrate"]["command"][:2] == ["youmin", "migrate"]
    for name in APPS - {"gateway"}:
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_kafka_keeps_its_data_on_the_volume_under_a_valid_cluster_id():
    import base64
    import uuid

    kafka = compose()["services"]["kafka"]
    env = kafka["environment"]
    assert uuid.UUID(bytes=base64.urlsafe_b64decode(env["CLUSTER_ID"] + "=="))  # kafka-storage.sh random-uuid form
    mounts = [v.split(":", 1)[1] for v in kafka["volumes"]]
    assert env["KAFKA_LOG_DIRS"] in mounts


def _substituted(env: dict, given: dict[str, str]) -> dict[str, str]:
    """The environment as compose passes it: ${VAR:-default} and ${VAR:?message} filled from `given`."""
    import re

    def fill(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(3)
        return given.get(name, default or "")

    return {k: re.sub(r"\$\{(\w+)(:-([^}]*)|:\?[^}]*)?\}", fill, str(v)) for k, v in env.items()}


def test_every_app_starts_under_the_compose_production_environment(monkeypatch):
    # Building an app reads its settings and refuses development conveniences in production (the console SMS
    # sender was one): each app must build with exactly what compose gives it.
    import importlib

    services = compose()["services"]
    for name in APPS:
        env = _substituted(services[name]["environment"], {"YOUMIN_SIGNING_KEY": "k" * 64})
        with monkeypatch.context() as m:
            for key, value in env.items():
                m.setenv(key, value)
            module = importlib.import_module("gateway.app" if name == "gateway" else f"services.{name}.app")
            app = module.create_app()
            assert app.state.settings.environment == "production", name


def test_production_postgres_is_the_major_version_the_tests_run_on_with_the_same_tuning():
    import re
    import subprocess

    from youmin.infra import SERVER_TUNING, _pg_bin

    embedded = subprocess.run([str(_pg_bin() / "postgres"), "--version"], capture_output=True, text=True, check=True)
    major = re.search(r"(\d+)\.\d+", embedded.stdout).group(1)
    postgres = compose()["services"]["postgres"]
    assert postgres["image"].split(":")[1].split(".")[0].split("-")[0] == major
    # The volume holds the image's version-specific data directory (18+: /var/lib/postgresql/<major>/docker).
    assert any(v.endswith(":/var/lib/postgresql") for v in postgres["volumes"])
    command = postgres["command"]
    for setting in SERVER_TUNING[1::2]:
        assert setting in command, setting


def test_every_service_reads_the_deployments_settings_file_and_config_directory():
    services = compose()["services"]
    for name in APPS:
        svc = services[name]
        assert {"path": "youmin.env", "required": False} in svc["env_file"], name
        assert "./config:/etc/youmin:ro" in svc["volumes"], name
    assert (ROOT / "deploy" / "config").is_dir()
