"""Helpers of the end-to-end suites: the environment a deployment would set, and the ``gruponos``
CLI driven in-process (click's runner) or as a separate process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from gruponos.entrypoints.cli.main import main
from gruponos.simulator import WmsSimulator

ENTITIES = "order_hdr,order_dtl,allocation"
GRUPONOS = str(Path(sys.executable).with_name("gruponos"))


def wms_env(sim: WmsSimulator, sink_url: str, **extra: str) -> dict[str, str]:
    """The environment a deployment would set, pointing at the simulator and ``sink_url``."""
    return {
        "GRUPONOS_WMS__BASE_URL": sim.base_url,
        "GRUPONOS_WMS__USERNAME": "wms_user",
        "GRUPONOS_WMS__PASSWORD": "wms_password",
        "GRUPONOS_WMS__PAGE_SIZE": "100",
        "GRUPONOS_WMS__MAX_ATTEMPTS": "2",
        "GRUPONOS_SYNC__BATCH_SIZE": "100",
        "GRUPONOS_ENTITIES": ENTITIES,
        "GRUPONOS_SINK__URL": sink_url,
        **extra,
    }


@dataclass
class Cli:
    """Runs ``gruponos`` in-process (click's runner) with a given environment."""

    env: dict[str, str]

    def __call__(self, *args: str, **env: str) -> Result:
        runner = CliRunner()
        return runner.invoke(
            main,
            ["--env-file", "/nonexistent/.env", "--progress", "never", *args],
            env={**self.env, **env},
            catch_exceptions=False,
        )

    def json(self, *args: str) -> Any:
        result = self(*args, "--json")
        return json.loads(result.stdout)


def child_env(env: Mapping[str, str]) -> dict[str, str]:
    """This process's environment plus ``env``: what a child process gets."""
    return {**os.environ, **env}  # noqa: TID251 - passing the environment on, not configuring


def run_process(
    args: list[str], env: Mapping[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``gruponos ARGS`` as a separate process with pipes (not a terminal)."""
    return subprocess.run(  # noqa: S603 - our own entry point, fixed arguments
        [GRUPONOS, "--env-file", "/nonexistent/.env", *args],
        env=child_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
