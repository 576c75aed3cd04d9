"""deploy/compose/docker-compose.yml (issue 19), loaded with PyYAML (anchors and merge keys
resolved as Compose resolves them): the services the issue lists, a healthcheck on each, start
order by health, every gruponos command and setting real, and the files it mounts present."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from support.deployment import (
    COMPOSE,
    IMAGE,
    load_yaml_documents,
    names_a_command,
    unknown_env_names,
)

(SPEC,) = load_yaml_documents(COMPOSE)
SERVICES: dict[str, Any] = SPEC["services"]
GRUPONOS = {name for name, s in SERVICES.items() if str(s.get("image", "")).startswith(IMAGE)}
ENV_EXAMPLE = COMPOSE.with_name(".env.example")


def test_the_services_of_the_whole_system() -> None:
    assert set(SERVICES) == {
        "api",
        "scheduler",
        "worker-1",
        "worker-2",
        "redis",
        "postgres",
        "prometheus",
        "alertmanager",
        "grafana",
        "wms",
    }
    assert {"api", "scheduler", "worker-1", "worker-2", "wms"} == GRUPONOS


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_a_healthcheck(name: str) -> None:
    check = SERVICES[name]["healthcheck"]
    assert check["test"][0] == "CMD"
    assert {"interval", "timeout", "retries"} <= set(check)


def test_dependencies_wait_for_health_and_point_at_services() -> None:
    for name, service in SERVICES.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in SERVICES, (name, dependency)
            expected = "service_healthy" if dependency != "worker-1" else "service_started"
            assert condition == {"condition": expected}, (name, dependency)
    for name in ("api", "worker-1", "worker-2"):
        assert {"postgres", "redis", "wms"} <= set(SERVICES[name]["depends_on"]), name
    assert {"postgres", "redis"} <= set(SERVICES["scheduler"]["depends_on"])
    assert set(SERVICES["grafana"]["depends_on"]) == {"prometheus"}


@pytest.mark.parametrize("name", sorted(GRUPONOS))
def test_gruponos_services_run_real_commands_locked_down(name: str) -> None:
    service = SERVICES[name]
    assert names_a_command(service["command"]), service["command"]
    assert service["build"] == {"context": "../..", "dockerfile": "Dockerfile"}
    assert service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in service["security_opt"]
    assert service["tmpfs"] == ["/tmp"]  # noqa: S108 - the writable /tmp of a read-only root


def test_every_environment_variable_is_a_setting_and_secrets_come_from_env() -> None:
    for name, service in SERVICES.items():
        env: dict[str, str] = service.get("environment", {})
        if name in GRUPONOS:
            assert unknown_env_names(set(env)) == set(), name
        for key, value in env.items():
            if re.search(r"PASSWORD|KEYS", key):
                assert str(value).startswith("${"), (name, key)  # from .env, not written here


def test_the_env_example_gives_every_required_variable() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    required = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*):\?", text))
    optional = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*):-", text))
    given = {
        line.partition("=")[0]
        for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    }
    assert required <= given, required - given
    assert given <= required | optional, given - required - optional
    assert unknown_env_names(given) == set()


def test_the_api_health_and_the_scheduler_health_use_their_configured_ports() -> None:
    api = SERVICES["api"]
    assert f"{api['environment']['GRUPONOS_API__PORT']}/readyz" in " ".join(
        api["healthcheck"]["test"]
    )
    scheduler = SERVICES["scheduler"]
    port = scheduler["environment"]["GRUPONOS_SCHEDULE__HEALTH_PORT"]
    assert f"127.0.0.1:{port}/healthz" in " ".join(scheduler["healthcheck"]["test"])
    assert scheduler["environment"]["GRUPONOS_SCHEDULE__HEALTH_HOST"] == "0.0.0.0"  # noqa: S104


def test_mounted_files_exist_and_monitoring_reuses_deploy_prometheus() -> None:
    mounts = [
        m.split(":")[0]
        for s in SERVICES.values()
        for m in s.get("volumes", [])
        if m.startswith(".")
    ]
    for mount in mounts:
        assert (COMPOSE.parent / mount).exists(), mount
    assert "../prometheus/rules.yml" in mounts
    assert "../prometheus/alertmanager.yml" in mounts
    assert "../prometheus/grafana-dashboard.json" in mounts
    (prometheus,) = load_yaml_documents(COMPOSE.with_name("prometheus.yml"))
    targets = {
        t
        for job in prometheus["scrape_configs"]
        for c in job["static_configs"]
        for t in c["targets"]
    }
    api_port = SERVICES["api"]["environment"]["GRUPONOS_API__PORT"]
    scheduler_port = SERVICES["scheduler"]["environment"]["GRUPONOS_SCHEDULE__HEALTH_PORT"]
    assert targets == {f"api:{api_port}", f"scheduler:{scheduler_port}"}


def test_grafana_provisions_the_dashboard_it_mounts() -> None:
    provisioning = COMPOSE.parent / "grafana" / "provisioning"
    (providers,) = load_yaml_documents(provisioning / "dashboards" / "gruponos.yml")
    path = Path(providers["providers"][0]["options"]["path"])
    mounted = [m for m in SERVICES["grafana"]["volumes"] if "grafana-dashboard.json" in m]
    assert mounted
    assert Path(mounted[0].split(":")[1]).parent == path
