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
