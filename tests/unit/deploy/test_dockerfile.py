"""The Dockerfile (issue 19), read by a parser (``support.deployment.dockerfile``): multi-stage,
slim base, the wheel from binaries only, non-root ``USER``, ``tini`` as PID 1, ``HEALTHCHECK``,
OCI labels, writable paths declared, no remote ``ADD``, no secrets, thin mode by default."""

from __future__ import annotations

import re

from gruponos.__about__ import __version__
from support.deployment import (
    Instruction,
    dockerfile,
    env_of_image,
    names_a_command,
    unknown_env_names,
)

INSTRUCTIONS = dockerfile()
FINAL = max(i.stage for i in INSTRUCTIONS)
#: Names that would carry a secret if set at build time.
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|API__KEYS|CREDENTIAL|PRIVATE", re.IGNORECASE)


def final(keyword: str) -> list[Instruction]:
    return [i for i in INSTRUCTIONS if i.stage == FINAL and i.keyword == keyword]


def only(keyword: str) -> Instruction:
    (instruction,) = final(keyword)
    return instruction


def global_args() -> dict[str, str]:
    return {k: v for i in INSTRUCTIONS if i.stage < 0 for k, v in i.pairs().items()}


def test_two_stages_on_the_slim_python_311_base() -> None:
    froms = [i.value for i in INSTRUCTIONS if i.keyword == "FROM"]
    assert froms == ["${PYTHON_IMAGE} AS builder", "${PYTHON_IMAGE} AS runtime"]
    assert global_args()["PYTHON_IMAGE"].startswith("python:3.11-slim")


def test_the_builder_builds_the_wheel_and_the_final_stage_installs_it_from_binaries() -> None:
    builder = " ".join(i.value for i in INSTRUCTIONS if i.stage == 0 and i.keyword == "RUN")
    assert "python -m build --wheel" in builder
    assert "--from=builder /dist/" in only("COPY").value
    (install,) = [r.value for r in final("RUN") if "pip install" in r.value]
    assert "--only-binary=:all:" in install  # nothing compiled: no compiler in the image
    assert "gruponos[${EXTRAS}]" in install
    assert not re.search(r"\b(gcc|g\+\+|build-essential|clang|make)\b", install)
    for run in final("RUN"):
        assert not re.search(r"apt-get install[^&]*\b(gcc|build-essential|libc6-dev)\b", run.value)


def test_runs_as_a_non_root_user() -> None:
    user = only("USER").value
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000, user  # numeric: runAsNonRoot can verify it
    assert INSTRUCTIONS[-1].keyword in {"CMD", "ENTRYPOINT"}
    assert INSTRUCTIONS.index(only("USER")) > max(INSTRUCTIONS.index(r) for r in final("RUN"))


def test_tini_is_pid_1_and_installed_from_debian() -> None:
    entrypoint = only("ENTRYPOINT").exec_form()
    assert entrypoint[0] == "tini"
    assert entrypoint[-2:] == ["--", "gruponos"]
    assert any("apt-get install" in r.value and " tini" in r.value for r in final("RUN"))


def test_the_default_command_is_a_gruponos_command() -> None:
    assert names_a_command(only("CMD").exec_form())


def test_a_healthcheck_probes_the_api_health_endpoint() -> None:
    check = only("HEALTHCHECK")
    assert "--interval=" in check.value
    assert "--timeout=" in check.value
    command = " ".join(check.exec_form())
    port = env_of_image(INSTRUCTIONS)["GRUPONOS_API__PORT"]
    assert f"http://127.0.0.1:{port}/healthz" in command


def test_oci_labels() -> None:
    labels: dict[str, str] = {}
    for label in final("LABEL"):
        labels.update(label.pairs())
    for name in ("title", "description", "version", "revision", "created", "licenses", "url"):
        assert f"org.opencontainers.image.{name}" in labels, name
    version_arg = next(i for i in final("ARG") if i.value.startswith("VERSION="))
    assert version_arg.pairs()["VERSION"] == __version__


def test_no_remote_add_and_no_secret_at_build_time() -> None:
    assert not [i for i in INSTRUCTIONS if i.keyword == "ADD"]  # COPY only: nothing fetched
    for instruction in INSTRUCTIONS:
        if instruction.keyword in {"ENV", "ARG"}:
            for name in instruction.pairs():
                assert not SECRET_NAME.search(name), name
        assert not re.search(r"://[^/\s:@]+:[^/\s@]+@", instruction.value), instruction


def test_writable_paths_are_declared_volumes_and_every_path_setting_is_in_one() -> None:
    volumes = only("VOLUME").exec_form()
    assert set(volumes) == {"/var/lib/gruponos", "/tmp"}  # noqa: S108 - the image's tmpfs
    env = env_of_image(INSTRUCTIONS)
    for name in ("GRUPONOS_STATE__PATH", "GRUPONOS_ALERTS__STATE_PATH"):
        assert env[name].startswith("/var/lib/gruponos/"), name
    assert env["GRUPONOS_SINK__URL"] == "sqlite:////var/lib/gruponos/gruponos.db"
    assert only("WORKDIR").value == "/var/lib/gruponos"


def test_every_setting_named_exists_and_oracle_runs_in_thin_mode() -> None:
    env = env_of_image(INSTRUCTIONS)
    assert unknown_env_names(set(env)) == set()
    assert env["GRUPONOS_SINK__ORACLE__THICK"] == "false"
    assert env["GRUPONOS_LOG__FORMAT"] == "json"


def test_the_exposed_ports_are_the_configured_ones() -> None:
    env = env_of_image(INSTRUCTIONS)
    exposed = set(only("EXPOSE").value.split())
    assert {env["GRUPONOS_API__PORT"], env["GRUPONOS_SCHEDULE__HEALTH_PORT"]} <= exposed
    assert "9464" in exposed  # gruponos metrics serve's default --port


def test_every_build_argument_a_stage_uses_is_declared_in_that_stage() -> None:
    for stage in range(max(i.stage for i in INSTRUCTIONS) + 1):
        declared = {
            name
            for i in INSTRUCTIONS
            if i.stage == stage and i.keyword == "ARG"
            for name in i.pairs()
        }
        for instruction in INSTRUCTIONS:
            if instruction.stage != stage or instruction.keyword in {"FROM", "ARG"}:
                continue
            for name in re.findall(r"\$\{(\w+)\}", instruction.value):
                if name != "PATH":  # ENV PATH="...:${PATH}" is the environment's own
                    assert name in declared, (stage, instruction.keyword, name)
