"""What an installed gruponos can do, checked from the outside (issue 19).

    python scripts/install_smoke.py --bin VENV/bin [--extras none|all] [--work DIR]

runs the installed executables (``VENV/bin/gruponos``, ``tap-gruponos``, ``target-gruponos``) the
way a user would, against ``gruponos simulator serve`` in a process of its own and SQLite files in
``--work``: ``--version``, ``demo``, ``validate``, ``sync full`` and ``incremental``, ``verify``,
``check``, ``health``, ``run``, ``show-config``, ``list-pipelines``, ``state show``, ``runs
list``, ``tables create`` and ``describe``, ``quarantine list`` and ``replay``, ``views create`` and
``drop``, ``dbt sources`` and ``tap-gruponos | target-gruponos`` with the rows counted in the
target's database. With ``--extras none`` every command that needs an extra must exit 2 with one line
naming it; with ``--extras all`` their ``--help`` must work.

``--blocked`` runs the programs from this interpreter with the optional packages made
unimportable (a meta path finder), as on an install without extras; the unit test uses it on the
development checkout. Nothing here needs a container engine, an Oracle server or the network.
"""

from __future__ import annotations

import argparse
import importlib.abc
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

#: Top-level modules the extras bring; ``--blocked`` makes them unimportable.
OPTIONAL = (
    "fastapi",
    "starlette",
    "uvicorn",
    "httptools",
    "uvloop",
    "jwt",
    "prometheus_client",
    "celery",
    "kombu",
    "apscheduler",
    "redis",
)
#: Commands that need an extra: (arguments, the extra the error must name).
NEED_EXTRA = (
    (["api", "serve"], "api"),
    (["api", "key", "create", "--name", "k", "--role", "viewer"], "api"),
    (["metrics", "serve"], "monitoring"),
    (["worker"], "workers"),
    (["scheduler"], "scheduler"),
    (["schedule", "show"], "scheduler"),
    (["sync", "full", "--executor", "celery"], "workers"),
)
ENTITIES = ("order_hdr", "order_dtl", "allocation")
RECORDS = 150
PROGRAMS = {
    "gruponos": "gruponos.entrypoints.cli.main:run",
    "tap-gruponos": "gruponos.entrypoints.singer:tap_main",
    "target-gruponos": "gruponos.entrypoints.singer:target_main",
}


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Blocker(importlib.abc.MetaPathFinder):
    """Refuses the optional packages, as an install without the extras would."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,  # noqa: ARG002 - the finder protocol's signature
        target: ModuleType | None = None,  # noqa: ARG002
    ) -> None:
        if fullname.partition(".")[0] in OPTIONAL:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)


def run_blocked(program: str, argv: list[str]) -> None:
    """Run ``program`` (an entry point) in this process with the optional packages blocked."""
    sys.meta_path.insert(0, Blocker())
    module, _, function = PROGRAMS[program].partition(":")
    sys.argv = [program, *argv]
    entry = getattr(__import__(module, fromlist=[function]), function)
    entry()


class Smoke:
    def __init__(self, command: list[str], work: Path, extras: str) -> None:
        self.command = command  # prefix: the program name follows
        self.work = work
        self.extras = extras
        self.commands: str | None = None
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GRUPONOS_")}  # noqa: TID251
        self.env["PYTHONWARNINGS"] = "error::DeprecationWarning"

    def program(self, name: str) -> list[str]:
        if self.command[0] == "--bin":
            return [str(Path(self.command[1]) / name)]
        return [*self.command, name]

    def run(
        self, name: str, *args: str, env: dict[str, str] | None = None, expect: int = 0
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(  # noqa: S603 - the installed programs, fixed arguments
            [*self.program(name), *args],
            env={**self.env, **(env or {})},
            cwd=self.work,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        shown = " ".join([name, *args])
        if done.returncode != expect:
            raise SystemExit(
                f"FAIL {shown}: exit {done.returncode}, expected {expect}\n"
                f"stdout: {done.stdout[-2000:]}\nstderr: {done.stderr[-2000:]}"
            )
        if "Traceback" in done.stderr:
            raise SystemExit(f"FAIL {shown}: a traceback on stderr\n{done.stderr[-2000:]}")
        say(f"ok   {shown} (exit {expect})")
        return done

    def simulator(self) -> tuple[subprocess.Popen[str], str]:
        """``gruponos simulator serve`` on a free port; its base URL from the lines it prints."""
        process = subprocess.Popen(  # noqa: S603 - the installed program
            [
                *self.program("gruponos"),
                "simulator",
                "serve",
                "--port",
                "0",
                "--records",
                str(RECORDS),
            ],
            env=self.env,
            cwd=self.work,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if process.stdout is None:
            raise SystemExit("FAIL the simulator has no stdout")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            found = re.search(r"GRUPONOS_WMS__BASE_URL=(\S+)", line)
            if found:
                say(f"ok   gruponos simulator serve ({found.group(1)})")
                return process, found.group(1).strip("'")
        process.kill()
        raise SystemExit(f"FAIL the simulator did not start: {process.communicate()[1][-2000:]}")

    def wms_env(self, base_url: str, db: str) -> dict[str, str]:
        return {
            "GRUPONOS_WMS__BASE_URL": base_url,
            "GRUPONOS_WMS__USERNAME": "wms_user",
            "GRUPONOS_WMS__PASSWORD": "wms_password",
            "GRUPONOS_ENTITIES": ",".join(ENTITIES),
            "GRUPONOS_SINK__URL": f"sqlite:///{self.work / db}",
        }

    def pipe(self, base_url: str) -> None:
        """``tap-gruponos --config tap.json | target-gruponos --config target.json``."""
        tap = self.work / "tap.json"
        tap.write_text(
            json.dumps(
                {
                    "base_url": base_url,
                    "username": "wms_user",
                    "password": "wms_password",
                    "entities": list(ENTITIES),
                }
            )
        )
        db = self.work / "singer.db"
        target = self.work / "target.json"
        target.write_text(json.dumps({"url": f"sqlite:///{db}"}))
        with subprocess.Popen(  # noqa: S603 - the installed programs
            [*self.program("tap-gruponos"), "--config", str(tap)],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        ) as tap_process:
            loaded = subprocess.run(  # noqa: S603
                [*self.program("target-gruponos"), "--config", str(target)],
                env=self.env,
                stdin=tap_process.stdout,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
        if tap_process.returncode != 0 or loaded.returncode != 0:
            raise SystemExit(
                f"FAIL tap|target: exit {tap_process.returncode}|{loaded.returncode}\n"
                f"{loaded.stderr[-2000:]}"
            )
        with sqlite3.connect(db) as connection:
            counts = {
                entity: connection.execute(f"SELECT COUNT(*) FROM WMS_{entity.upper()}").fetchone()[
                    0
                ]
                for entity in ENTITIES
            }
        if counts != dict.fromkeys(ENTITIES, RECORDS):
            raise SystemExit(f"FAIL tap|target: rows {counts}, expected {RECORDS} each")
        say(f"ok   tap-gruponos | target-gruponos (rows {counts})")

    def installed_from(self) -> None:
        """With ``--bin``: the gruponos those programs import is the installed one."""
        if self.command[0] != "--bin":
            return
        venv = Path(self.command[1]).parent
        found = self.run("python", "-c", "import gruponos; print(gruponos.__file__)").stdout
        if not Path(found.strip()).resolve().is_relative_to(venv.resolve()):
            raise SystemExit(f"FAIL gruponos is imported from {found.strip()}, not from {venv}")
        say(f"     gruponos imported from {found.strip()}")

    def main(self) -> None:
        self.installed_from()
        version = self.run("gruponos", "--version").stdout.strip()
        if not re.match(r"gruponos \d+\.\d+", version):
            raise SystemExit(f"FAIL gruponos --version printed {version!r}")
        say(f"     {version}")
        self.run("gruponos", "demo", "--records", "200", "--db", str(self.work / "demo.db"))
        simulator, base_url = self.simulator()
        try:
            env = self.wms_env(base_url, "sync.db")
            self.run("gruponos", "validate", env=env)
            self.run("gruponos", "sync", "full", env=env)
            self.run("gruponos", "sync", "incremental", env=env)
            self.run("gruponos", "verify", env=env)
            self.run("gruponos", "check", env=env)
            self.run("gruponos", "health", env=env)
            self.run("gruponos", "run", "incremental-sync", env=env)
            for args in (
                ["show-config"],
                ["list-pipelines"],
                ["state", "show"],
                ["runs", "list"],
                ["tables", "create"],
                ["tables", "describe"],
                ["quarantine", "replay"],
                ["dbt", "sources", "--output", "-"],
            ):
                self.run("gruponos", *args, env=env)
            self.run("gruponos", "quarantine", "list", env=env)
            self.run("gruponos", "views", "create", env=env)
            self.run("gruponos", "views", "drop", env=env)
            self.pipe(base_url)
            if self.extras == "none":
                self.extras_refused(env)
            else:
                for args, _ in NEED_EXTRA:
                    if self.has(args[0]):
                        self.run("gruponos", *args[:2], "--help")
        finally:
            simulator.terminate()
            simulator.wait(timeout=30)

    def has(self, command: str) -> bool:
        """Whether ``gruponos --help`` lists ``command`` (worker and scheduler came later)."""
        if self.commands is None:
            self.commands = self.run("gruponos", "--help").stdout
        listed = self.commands
        return re.search(rf"^\s+{re.escape(command)}\s", listed, re.MULTILINE) is not None

    def extras_refused(self, env: dict[str, str]) -> None:
        """Each command that needs an extra: exit 2, one line naming it."""
        for args, extra in NEED_EXTRA:
            if not self.has(args[0]):
                say(f"skip gruponos {args[0]}: not a command of this version")
                continue
            done = self.run("gruponos", *args, env=env, expect=2)
            self.one_line_naming(done.stderr, extra, " ".join(args))
        pushed = {**env, "GRUPONOS_METRICS__PUSHGATEWAY_URL": "http://127.0.0.1:9/"}
        done = self.run("gruponos", "sync", "incremental", env=pushed, expect=2)
        self.one_line_naming(done.stderr, "monitoring", "sync with a Pushgateway")

    @staticmethod
    def one_line_naming(stderr: str, extra: str, what: str) -> None:
        lines = stderr.strip().splitlines()
        if len(lines) != 1 or f"gruponos[{extra}]" not in lines[0]:
            raise SystemExit(f"FAIL {what}: expected one line naming [{extra}], got {stderr!r}")


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--as":
        run_blocked(sys.argv[2], sys.argv[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--bin", type=Path, help="the bin directory of the installed gruponos")
    where.add_argument(
        "--blocked",
        action="store_true",
        help="this interpreter, optional packages made unimportable",
    )
    parser.add_argument("--extras", choices=("none", "all"), default="none")
    parser.add_argument("--work", type=Path, help="working directory (default: a new temp dir)")
    args = parser.parse_args()
    command = (
        ["--bin", str(args.bin.resolve())]
        if args.bin
        else [sys.executable, str(Path(__file__).resolve()), "--as"]
    )
    with tempfile.TemporaryDirectory(prefix="gruponos-smoke-") as temp:
        work = (args.work or Path(temp)).resolve()
        work.mkdir(parents=True, exist_ok=True)
        Smoke(command, work, args.extras).main()
    say("install smoke: all checks passed")


if __name__ == "__main__":
    main()
