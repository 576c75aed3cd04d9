"""deploy/k8s (issue 19): what every workload must have, and that every image, port, command and
environment variable name in the manifests exists in the code and the settings.

``nox -s deploy`` also validates the files against the Kubernetes JSON schemas of a pinned
version (``kubernetes-validate --strict``) and with ``yamllint``; the custom resources the
Kubernetes schemas do not know (KEDA's ScaledObject, the Prometheus Operator's ServiceMonitor and
PrometheusRule) are validated here against the small schemas in ``deploy/k8s/schemas/``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import jsonschema
import pytest

from gruponos.__about__ import __version__
from support.deployment import (
    IMAGE,
    K8S,
    dockerfile,
    load_yaml_documents,
    names_a_command,
    unknown_env_names,
)

FILES = sorted(
    p
    for p in K8S.rglob("*.yaml")
    if p.name != "kustomization.yaml" and not p.name.endswith(".patch.yaml")
)
RESOURCES: list[tuple[Path, dict[str, Any]]] = [
    (path, doc) for path in FILES for doc in load_yaml_documents(path)
]
WORKLOAD_KINDS = {"Deployment", "CronJob"}
CRD_SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): "keda.sh_v1alpha1_scaledobject.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "monitoring.coreos.com_v1_servicemonitor.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "monitoring.coreos.com_v1_prometheusrule.json",
}
#: Egress ports the NetworkPolicy may open: DNS, the WMS (HTTPS), PostgreSQL, Oracle (TCP,
#: TCPS), Redis (plain, TLS).
EGRESS_PORTS = {53, 443, 5432, 1521, 2484, 6379, 6380}


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in RESOURCES if doc["kind"] == kind]


def named(kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in of_kind(kind) if d["metadata"]["name"] == name]
    return doc


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    template = workload["spec"]
    if workload["kind"] == "CronJob":
        template = template["jobTemplate"]["spec"]
    return cast("dict[str, Any]", template["template"]["spec"])


def workloads() -> list[dict[str, Any]]:
    return [doc for _, doc in RESOURCES if doc["kind"] in WORKLOAD_KINDS]


def config() -> dict[str, str]:
    data: dict[str, str] = named("ConfigMap", "gruponos-config")["data"]
    return data


def workload_id(workload: dict[str, Any]) -> str:
    return f"{workload['kind']}/{workload['metadata']['name']}"


WORKLOADS = pytest.mark.parametrize("workload", workloads(), ids=workload_id)


def test_the_layout_has_every_resource_the_issue_lists() -> None:
    kinds = {doc["kind"] for _, doc in RESOURCES}
    assert {
        "Namespace",
        "ConfigMap",
        "Secret",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "CronJob",
        "ScaledObject",
        "ServiceMonitor",
        "PrometheusRule",
        "NetworkPolicy",
    } <= kinds
    deployments = {d["metadata"]["name"] for d in of_kind("Deployment")}
    assert deployments == {"gruponos-api", "gruponos-worker", "gruponos-scheduler"}
    assert {c["metadata"]["name"] for c in of_kind("CronJob")} == {
        "gruponos-full",
        "gruponos-incremental",
    }


def test_every_kustomization_names_files_that_exist() -> None:
    for kustomization in K8S.rglob("kustomization.yaml"):
        (spec,) = load_yaml_documents(kustomization)
        entries = [*spec.get("resources", []), *spec.get("components", [])]
        entries += [p["path"] for p in spec.get("patches", [])]
        for entry in entries:
            assert (kustomization.parent / entry).exists(), (kustomization, entry)
    (base,) = load_yaml_documents(K8S / "base" / "kustomization.yaml")
    in_base = {p.name for p in (K8S / "base").glob("*.yaml")} - {"kustomization.yaml"}
    assert set(base["resources"]) == in_base  # nothing in base/ left out of the build


@WORKLOADS
def test_security_context_everywhere(workload: dict[str, Any]) -> None:
    user = int(next(i for i in dockerfile() if i.keyword == "USER").value.split(":")[0])
    pod = pod_spec(workload)
    assert pod["automountServiceAccountToken"] is False
    context = pod["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["runAsUser"] == user  # the image's numeric USER
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["containers"]:
        own = container["securityContext"]
        assert own["allowPrivilegeEscalation"] is False
        assert own["readOnlyRootFilesystem"] is True
        assert own["capabilities"] == {"drop": ["ALL"]}
        assert own["runAsNonRoot"] is True
        assert own["seccompProfile"] == {"type": "RuntimeDefault"}


@WORKLOADS
def test_the_writable_paths_of_the_image_are_mounted(workload: dict[str, Any]) -> None:
    volumes_declared = next(i for i in dockerfile() if i.keyword == "VOLUME").exec_form()
    pod = pod_spec(workload)
    empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    for container in pod["containers"]:
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert set(volumes_declared) <= set(mounts), workload_id(workload)
        assert {mounts[path] for path in volumes_declared} <= empty_dirs


@WORKLOADS
def test_resource_requests_and_limits(workload: dict[str, Any]) -> None:
    for container in pod_spec(workload)["containers"]:
        resources = container["resources"]
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources[kind]), (workload_id(workload), kind)
        assert _mib(resources["limits"]["memory"]) >= _mib(resources["requests"]["memory"])


def _mib(quantity: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * (1024 if unit == "Gi" else 1)


@WORKLOADS
def test_images_commands_and_environment_exist(workload: dict[str, Any]) -> None:
    for container in pod_spec(workload)["containers"]:
        assert container["image"] == IMAGE  # the tag is set by kustomize (images:)
        assert "command" not in container  # the image's tini entrypoint stays PID 1
        assert names_a_command(container["args"]), container["args"]
        env = {e["name"] for e in container.get("env", [])}
        assert unknown_env_names(env) == set()
        refs = {next(iter(source.values()))["name"] for source in container.get("envFrom", [])}
        assert refs == {"gruponos-config", "gruponos-secrets"}
        probe = container.get("readinessProbe", {})
        if "exec" in probe:
            assert probe["exec"]["command"][0] == "gruponos"
            assert names_a_command(probe["exec"]["command"][1:])


def test_the_image_tag_is_the_package_version() -> None:
    for kustomization in K8S.rglob("kustomization.yaml"):
        (spec,) = load_yaml_documents(kustomization)
        for image in spec.get("images", []):
            assert image["name"] == IMAGE
            assert image["newTag"] == __version__, kustomization


def test_config_and_secret_name_only_settings_and_the_secret_is_a_template() -> None:
    assert unknown_env_names(set(config())) == set()
    assert all(name.startswith("GRUPONOS_") for name in config())
    secret = named("Secret", "gruponos-secrets")["stringData"]
    assert unknown_env_names(set(secret)) == set()
    assert all("REPLACE_ME" in value for value in secret.values())
    for name in config():
        assert not re.search(r"PASSWORD|SECRET|KEYS", name), name
    for value in config().values():
        assert not re.search(r"://[^/\s:@]+:[^/\s@]+@", value), value  # no password in a URL
    overlay = load_yaml_documents(K8S / "overlays" / "example" / "config.patch.yaml")[0]
    assert unknown_env_names(set(overlay["data"])) == set()


def test_the_api_probes_health_and_readiness_on_its_configured_port() -> None:
    (container,) = pod_spec(named("Deployment", "gruponos-api"))["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": int(config()["GRUPONOS_API__PORT"])}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["args"] == ["api", "serve"]
    assert config()["GRUPONOS_API__HOST"] == "0.0.0.0"  # noqa: S104 - reachable in the pod


def test_the_scheduler_probes_its_health_port() -> None:
    (container,) = pod_spec(named("Deployment", "gruponos-scheduler"))["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": int(config()["GRUPONOS_SCHEDULE__HEALTH_PORT"])}
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "metrics"}


def test_every_deployment_has_a_readiness_probe() -> None:
    for deployment in of_kind("Deployment"):
        for container in pod_spec(deployment)["containers"]:
            assert "readinessProbe" in container, deployment["metadata"]["name"]


def test_services_point_at_named_container_ports() -> None:
    for service in of_kind("Service"):
        component = service["spec"]["selector"]["app.kubernetes.io/component"]
        (deployment,) = [
            d
            for d in of_kind("Deployment")
            if d["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == component
        ]
        names = {p["name"] for c in pod_spec(deployment)["containers"] for p in c["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in names


def test_cronjobs_never_overlap_and_give_a_batch_time_to_commit() -> None:
    for cronjob in of_kind("CronJob"):
        spec = cronjob["spec"]
        job = spec["jobTemplate"]["spec"]
        pod = pod_spec(cronjob)
        assert spec["concurrencyPolicy"] == "Forbid"
        assert spec["startingDeadlineSeconds"] > 0
        assert job["backoffLimit"] >= 1
        assert job["activeDeadlineSeconds"] >= 3600
        assert pod["restartPolicy"] == "Never"
        assert pod["terminationGracePeriodSeconds"] >= 120
        (container,) = pod["containers"]
        mode = container["args"][1]
        assert container["args"][0] == "sync"
        assert spec["schedule"] == config()[f"GRUPONOS_SCHEDULE__{mode.upper()}"]
        assert {"name": "GRUPONOS_EXECUTOR__KIND", "value": "local"} in container["env"]


def test_the_workers_scale_on_the_celery_queue_from_1_to_10() -> None:
    scaled = named("ScaledObject", "gruponos-worker")["spec"]
    assert scaled["scaleTargetRef"]["name"] == "gruponos-worker"
    assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (1, 10)
    (trigger,) = scaled["triggers"]
    broker = urlsplit(config()["GRUPONOS_EXECUTOR__BROKER_URL"])
    assert trigger["type"] == "redis"
    assert trigger["metadata"]["address"] == f"{broker.hostname}:{broker.port}"
    assert trigger["metadata"]["databaseIndex"] == broker.path.strip("/")
    assert trigger["metadata"]["listName"] == config()["GRUPONOS_EXECUTOR__QUEUE"]
    worker = pod_spec(named("Deployment", "gruponos-worker"))
    assert worker["terminationGracePeriodSeconds"] >= 120


def test_the_api_scales_from_2_to_6_and_budgets_select_their_pods() -> None:
    hpa = named("HorizontalPodAutoscaler", "gruponos-api")["spec"]
    assert hpa["scaleTargetRef"]["name"] == "gruponos-api"
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 6)
    budgets = {b["metadata"]["name"]: b["spec"] for b in of_kind("PodDisruptionBudget")}
    assert set(budgets) == {"gruponos-api", "gruponos-worker"}
    for name, budget in budgets.items():
        labels = named("Deployment", name)["spec"]["template"]["metadata"]["labels"]
        assert budget["selector"]["matchLabels"].items() <= labels.items()


def test_the_network_policy_allows_egress_to_the_wms_database_and_redis_only() -> None:
    egress = named("NetworkPolicy", "gruponos-egress")["spec"]
    assert egress["policyTypes"] == ["Egress"]
    ports = {p["port"] for rule in egress["egress"] for p in rule["ports"]}
    assert ports == EGRESS_PORTS
    for rule in egress["egress"]:
        assert rule["to"], "every rule names its destination"


def test_the_prometheus_rule_carries_the_rules_file_unchanged() -> None:
    (rules,) = load_yaml_documents(K8S.parents[0] / "prometheus" / "rules.yml")
    assert named("PrometheusRule", "gruponos")["spec"] == rules, (
        "deploy/k8s/base/monitoring.yaml is out of date with deploy/prometheus/rules.yml"
    )


def test_the_service_monitor_scrapes_the_services_metrics_ports() -> None:
    monitor = named("ServiceMonitor", "gruponos")["spec"]
    scraped = {e["port"] for e in monitor["endpoints"]}
    exposed = {p["name"] for s in of_kind("Service") for p in s["spec"]["ports"]}
    assert scraped == exposed
    assert config()["GRUPONOS_API__METRICS_PUBLIC"] == "true"


@pytest.mark.parametrize(
    "resource",
    [doc for _, doc in RESOURCES if (doc["apiVersion"], doc["kind"]) in CRD_SCHEMAS],
    ids=lambda doc: f"{doc['kind']}/{doc['metadata']['name']}",
)
def test_custom_resources_match_their_crd_schemas(resource: dict[str, Any]) -> None:
    name = CRD_SCHEMAS[resource["apiVersion"], resource["kind"]]
    schema = json.loads((K8S / "schemas" / name).read_text(encoding="utf-8"))
    jsonschema.validate(resource, schema)


def test_a_crd_schema_refuses_a_misspelt_field() -> None:
    scaled = named("ScaledObject", "gruponos-worker")
    schema = json.loads(
        (K8S / "schemas" / CRD_SCHEMAS["keda.sh/v1alpha1", "ScaledObject"]).read_text()
    )
    broken = {**scaled, "spec": {**scaled["spec"], "maxReplicas": 10}}
    with pytest.raises(jsonschema.ValidationError, match="maxReplicas"):
        jsonschema.validate(broken, schema)


#: The process measured (docs/deployment.md, "Sizing") -> the workloads it sizes.
MEASURED = {
    "api serve, after 2,000 requests": ("Deployment", "gruponos-api"),
    "worker --concurrency 2, at the end": ("Deployment", "gruponos-worker"),
    "scheduler": ("Deployment", "gruponos-scheduler"),
    "sync full (in-process)": ("CronJob", "gruponos-full"),
}


def measured_peaks() -> dict[str, float]:
    text = (K8S.parents[1] / "docs" / "deployment.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([^`]+)` \| [^|]+ \| (\d+) \|", text, re.MULTILINE)
    return {process: float(peak) for process, peak in rows}


def test_memory_requests_cover_the_measured_peaks_and_limits_are_twice_them() -> None:
    peaks = measured_peaks()
    assert set(MEASURED) <= set(peaks), peaks
    for process, (kind, name) in MEASURED.items():
        workloads_sized = [named(kind, name)]
        if kind == "CronJob":
            workloads_sized = of_kind("CronJob")  # both pipelines: the full one is the larger
        for workload in workloads_sized:
            for container in pod_spec(workload)["containers"]:
                request = _mib(container["resources"]["requests"]["memory"])
                limit = _mib(container["resources"]["limits"]["memory"])
                assert request >= peaks[process], (name, request, peaks[process])
                assert limit == 2 * request, name
    worker = pod_spec(named("Deployment", "gruponos-worker"))["containers"][0]
    assert worker["args"] == ["worker", "--concurrency", "2"]  # as measured


def test_every_container_port_is_one_the_image_exposes() -> None:
    exposed = {int(p) for p in next(i for i in dockerfile() if i.keyword == "EXPOSE").value.split()}
    ports = {
        port["containerPort"]
        for workload in workloads()
        for container in pod_spec(workload)["containers"]
        for port in container.get("ports", [])
    }
    assert ports
    assert ports <= exposed, ports - exposed
