"""deploy/compose.yaml: the laptop stack starts in dependency order on healthy stores."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from manifests import DEPLOY, SERVICES


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    # safe_load resolves the `<<: *anchor` merge keys the file uses for shared settings.
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_stores_are_the_pinned_majors_with_health_checks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["rabbitmq"]["image"].startswith("rabbitmq:3.13") and "management" in services["rabbitmq"]["image"]
    assert services["mailpit"]["image"].startswith("axllent/mailpit")
    for name in ("postgres", "rabbitmq", "mailpit", "sms-gateway"):
        assert services[name]["healthcheck"]["test"], name


def test_migrate_is_a_one_shot_after_postgres(compose: dict[str, Any]) -> None:
    migrate = compose["services"]["migrate"]
    assert migrate["command"] == ["shared.migrate", "all"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_services_wait_for_healthy_dependencies(compose: dict[str, Any]) -> None:
    for name, port in SERVICES.items():
        service = compose["services"][name]
        assert service["command"] == [f"services.{name}"]
        depends = service["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["rabbitmq"]["condition"] == "service_healthy", name
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert f"{port}:{port}" in service["ports"], name
        assert service["environment"]["LCS_PORT"] == str(port)
        assert f":{port}/readyz" in " ".join(service["healthcheck"]["test"]), name
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"], name
    notifier = compose["services"]["notifier"]["depends_on"]
    assert notifier["mailpit"]["condition"] == "service_healthy"
    assert notifier["sms-gateway"]["condition"] == "service_healthy"


def test_environment_is_dev_only_and_complete(compose: dict[str, Any]) -> None:
    for name in [*SERVICES, "migrate"]:
        env = compose["services"][name]["environment"]
        assert env["LCS_ENV"] == "dev", name
        assert env["LCS_DATABASE_URL"].startswith("postgresql://") and "@postgres:5432/" in env["LCS_DATABASE_URL"]
        assert env["LCS_AMQP_URL"].startswith("amqp://") and "@rabbitmq:5672/" in env["LCS_AMQP_URL"]
        assert "dev-only" in env["LCS_AUTH_SECRET"] and "dev-only" in env["LCS_ID_HASH_KEY"]
    notifier = compose["services"]["notifier"]["environment"]
    assert notifier["LCS_SMTP_HOST"] == "mailpit" and notifier["LCS_SMTP_PORT"] == "1025"
    assert notifier["LCS_SMS_URL"].startswith("http://sms-gateway:8025")
    assert notifier["LCS_WECOM_BASE_URL"] == "http://sms-gateway:8025/wecom"  # never a real group from dev
    assert compose["services"]["sms-gateway"]["command"][:2] == ["shared.devtools.sinks", "--host"]


def test_photos_are_kept_in_postgres_not_on_a_volume(compose: dict[str, Any]) -> None:
    tracking = compose["services"]["tracking"]
    assert tracking["environment"].get("LCS_PHOTO_STORE", "postgres") == "postgres"
    assert "volumes" not in tracking
    assert "photos" not in compose["volumes"]


def test_graceful_shutdown_is_not_cut_short(compose: dict[str, Any]) -> None:
    for name in SERVICES:
        service = compose["services"][name]
        grace = float(service["environment"]["LCS_SHUTDOWN_GRACE_SECONDS"])
        assert float(service["stop_grace_period"].rstrip("s")) > grace, name
