"""What the deployment files (Dockerfile, Compose, Kubernetes) may name, read from the code: the
settings' environment variables, the CLI's commands, the image; and a small Dockerfile reader."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from gruponos.entrypoints.cli.config_doc import rows
from gruponos.entrypoints.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "deploy" / "compose" / "docker-compose.yml"
K8S = ROOT / "deploy" / "k8s"
#: The image every manifest runs (the Dockerfile's; the tag is the package version).
IMAGE = "gruponos"
#: Read by the CLI itself (click ``envvar``), not by the settings model.
CLI_ENV = frozenset({"GRUPONOS_CONFIG_FILE", "GRUPONOS_SECRETS_DIR"})


def known_env_names() -> frozenset[str]:
    """Every ``GRUPONOS_*`` variable the code reads: each leaf setting, and the CLI's own."""
    return frozenset(env for _, env, *_ in rows()) | CLI_ENV


def unknown_env_names(names: set[str]) -> set[str]:
    """The ``GRUPONOS_*`` names in ``names`` that no setting reads."""
    known = known_env_names()
    return {n for n in names if n.startswith("GRUPONOS_") and n not in known}


def cli_commands(group: click.Group = main, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Every command path of ``gruponos`` (``("sync",)``, ``("api", "serve")``, ...)."""
    found: set[tuple[str, ...]] = set()
    ctx = click.Context(group)
    for name in group.list_commands(ctx):  # a lazy group imports its commands here
        command = group.get_command(ctx, name)
        path = (*prefix, name)
        found.add(path)
        if isinstance(command, click.Group):
            found |= cli_commands(command, path)
    return found


def names_a_command(args: list[str]) -> bool:
    """Whether ``args`` (after ``gruponos``) start with a command of the CLI."""
    words = [a for a in args if not a.startswith("-")]
    commands = cli_commands()
    return any(tuple(words[:n]) in commands for n in (2, 1))


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper-case: FROM, RUN, ENV, ...
    value: str  # the rest, continuation lines joined
    stage: int  # 0-based index of the FROM it belongs to

    def exec_form(self) -> list[str]:
        """The JSON (exec) form of CMD / ENTRYPOINT / HEALTHCHECK CMD, or shell words."""
        text = self.value.split("CMD", 1)[1] if self.keyword == "HEALTHCHECK" else self.value
        text = text.strip()
        if text.startswith("["):
            parsed: list[str] = json.loads(text)
            return parsed
        return shlex.split(text)

    def pairs(self) -> dict[str, str]:
        """``ENV``/``LABEL``/``ARG`` as name -> value (``name=value`` forms, quotes removed)."""
        result: dict[str, str] = {}
        for word in shlex.split(self.value):
            name, _, value = word.partition("=")
            result[name] = value
        return result


def dockerfile(path: Path = DOCKERFILE) -> list[Instruction]:
    """The instructions of a Dockerfile: comments dropped, ``\\`` continuations joined."""
    instructions: list[Instruction] = []
    stage = -1
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = pending + line
        pending = ""
        keyword, _, value = text.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        instructions.append(Instruction(keyword, re.sub(r"\s+", " ", value).strip(), stage))
    return instructions


def env_of_image(instructions: list[Instruction]) -> dict[str, str]:
    """The final stage's ``ENV`` (``${PATH}``-style references left as written)."""
    final = max(i.stage for i in instructions)
    env: dict[str, str] = {}
    for instruction in instructions:
        if instruction.stage == final and instruction.keyword == "ENV":
            env.update(instruction.pairs())
    return env


def load_yaml_documents(path: Path) -> list[Any]:
    import yaml  # noqa: PLC0415 - the test dependency, only for the deployment tests

    with path.open(encoding="utf-8") as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc is not None]
