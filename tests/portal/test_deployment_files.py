"""docker-compose.yml and the Dockerfile start what the project really has.

No Docker engine runs on these machines, so the compose file is parsed and
each service's command is checked against the project's own entry points.
"""

from pathlib import Path

import yaml
from django.core.management import get_commands

from portal.processes import PROCESSES

ROOT = Path(__file__).resolve().parents[2]


def load_compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_production_services():
    services = load_compose()["services"]
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(services)


def test_each_portal_service_runs_a_command_of_the_project():
    services = load_compose()["services"]
    commands = get_commands()
    for name in ("web", "worker", "beat", "migrate"):
        command = services[name]["command"]
        assert command[:2] == ["python", "manage.py"], name
        assert command[2] in commands, f"{name}: manage.py {command[2]} does not exist"
        if command[2] == "serve":
            assert command[3] == name, f"{name} must run `serve {name}`"
            assert command[3] in PROCESSES


def test_each_long_running_service_has_a_healthcheck():
    services = load_compose()["services"]
    for name in ("postgres", "redis", "web", "worker", "beat"):
        assert services[name]["healthcheck"]["test"], name


def test_healthchecks_use_the_project_endpoints_and_commands():
    services = load_compose()["services"]
    assert "/readyz" in " ".join(services["web"]["healthcheck"]["test"])
    beat_check = services["beat"]["healthcheck"]["test"]
    assert beat_check[1:4] == ["python", "manage.py", "status"]
    assert "status" in get_commands()


def test_data_lives_in_named_volumes():
    compose = load_compose()
    declared = set(compose["volumes"])
    used = {
        volume.split(":", 1)[0]
        for service in compose["services"].values()
        for volume in service.get("volumes", [])
    }
    assert used == {"postgres-data", "redis-data"}
    assert used <= declared


def test_portal_services_wait_for_healthy_dependencies_and_migrations():
    services = load_compose()["services"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["redis"]["condition"] == "service_healthy"
    for name in ("web", "worker", "beat"):
        condition = services[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully"
        env = services[name]["environment"]
        assert env["DEBUG"] == "0"
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["REDIS_URL"].startswith("redis://")


def test_the_image_starts_the_web_process_by_default():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["python", "manage.py", "serve", "web"]' in dockerfile
