"""The reliability suite's rig: a simulator with recorded secrets, the ``gruponos`` CLI in-process
and as a child process (every byte it prints collected and scanned for secrets), the target's
snapshot, and the figures written to ``.reliability-results.json``.

Invariants checked here, for every scenario:

- ``target == source``: the live rows of ``WMS_<ENTITY>`` (id -> mod_ts) equal ``sim.truth``;
- no duplicate ids (``SELECT ID, COUNT(*) ... HAVING COUNT(*) > 1`` is empty);
- the checkpoint is never ahead of committed data: every source record at or before the stored
  position is in the target with that mod_ts;
- no configured password, client secret or issued token in anything gruponos printed or logged.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg
from click.testing import CliRunner

from gruponos.entrypoints.cli.main import main
from gruponos.simulator import FaultKind, SimulatorConfig, WmsSimulator
from gruponos.simulator.api import Response
from gruponos.simulator.auth import Authenticator

ENTITIES = ("order_hdr", "order_dtl", "allocation")
GRUPONOS = str(Path(sys.executable).with_name("gruponos"))
RESULTS_FILE = Path(".reliability-results.json")

# Secrets the suite configures: unique strings, so a leak anywhere is found by a plain search.
WMS_USER = "rel_user"
WMS_PASSWORD = "Wms-Pa55w0rd-7f3c1b9e"
CLIENT_ID = "rel_client"
CLIENT_SECRET = "Cl1ent-S3cret-9e2d44a1"
SINK_PASSWORD = "Db-Pa55w0rd-4a8b0c6d"
URL_PASSWORD = "Url-Pa55w0rd-1d2e3f4a"


# -- figures and the secret collector ------------------------------------------------------------


@dataclass
class Scenario:
    runs: int = 0
    faults_injected: int = 0
    kills: int = 0
    records_checked: int = 0
    losses: int = 0
    duplicates: int = 0
    checkpoint_ahead: int = 0
    leaks: int = 0
    failed_runs: int = 0
    error_codes: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "error_codes"}
        data["error_codes"] = dict(sorted(self.error_codes.items()))
        return data


@dataclass
class Collector:
    """Session-wide: every text gruponos produced, the secrets to look for, and the figures."""

    secrets: set[str] = field(
        default_factory=lambda: {WMS_PASSWORD, CLIENT_SECRET, SINK_PASSWORD, URL_PASSWORD}
    )
    texts: list[tuple[str, str]] = field(default_factory=list)  # (where, text)
    scenarios: dict[str, Scenario] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def scenario(self, name: str) -> Scenario:
        with self.lock:
            return self.scenarios.setdefault(name, Scenario())

    def add_text(self, where: str, text: str) -> None:
        with self.lock:
            self.texts.append((where, text))

    def add_secret(self, secret: str) -> None:
        with self.lock:
            self.secrets.add(secret)

    def leaks_in(self, texts: list[tuple[str, str]]) -> list[str]:
        with self.lock:
            secrets = sorted(self.secrets)
        return [f"{where}: {s[:4]}..." for where, text in texts for s in secrets if s in text]

    def scanned_bytes(self) -> int:
        with self.lock:
            return sum(len(t) for _, t in self.texts)


COLLECTOR = Collector()


def write_results(path: Path, command: str, seconds: float, outcome: str) -> None:
    scenarios = {k: v.as_json() for k, v in sorted(COLLECTOR.scenarios.items())}
    totals: dict[str, int] = {}
    for data in scenarios.values():
        for key, value in data.items():
            if isinstance(value, int):
                totals[key] = totals.get(key, 0) + value
    leaks = COLLECTOR.leaks_in(COLLECTOR.texts)
    totals["leaks"] = len(leaks)
    document = {
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": command,
        "seconds": round(seconds, 1),
        "outcome": outcome,
        "texts_scanned": len(COLLECTOR.texts),
        "bytes_scanned": COLLECTOR.scanned_bytes(),
        "secrets_searched": len(COLLECTOR.secrets),
        "totals": totals,
        "scenarios": scenarios,
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


# -- the simulator -------------------------------------------------------------------------------


class RecordingAuthenticator(Authenticator):
    """The simulator's authenticator, recording every token it issues as a secret to look for."""

    def issue(self, body: bytes, header: str | None) -> Response:
        response = super().issue(body, header)
        if response.status == 200:
            COLLECTOR.add_secret(str(orjson.loads(response.body)["access_token"]))
        return response


def simulator(**config: Any) -> WmsSimulator:
    """A simulator (not started) with the suite's credentials and quick Retry-After."""
    base: dict[str, Any] = {
        "username": WMS_USER,
        "password": WMS_PASSWORD,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "retry_after_seconds": 0,
        "seed": 5,
    }
    base.update(config)
    cfg = SimulatorConfig(**base)
    sim = WmsSimulator(cfg)
    sim.auth = RecordingAuthenticator(cfg)
    return sim


def quiet(sim: WmsSimulator) -> None:
    """The outage is over: no more random faults or random changes."""
    sim.faults._rate = 0.0
    sim.faults.clear()
    sim.world._change_rate = 0.0


def injected(sim: WmsSimulator) -> int:
    return sum(sim.faults.injected.values())


def env_for(
    sim: WmsSimulator, sink_url: str, *, oauth2: bool = False, **extra: str
) -> dict[str, str]:
    env = {
        "GRUPONOS_WMS__BASE_URL": sim.base_url,
        "GRUPONOS_WMS__USERNAME": WMS_USER,
        "GRUPONOS_WMS__PASSWORD": WMS_PASSWORD,
        "GRUPONOS_WMS__PAGE_SIZE": "25",
        "GRUPONOS_WMS__MAX_ATTEMPTS": "4",
        "GRUPONOS_WMS__TIMEOUT_SECONDS": "10",
        "GRUPONOS_SYNC__BATCH_SIZE": "50",
        "GRUPONOS_ENTITIES": ",".join(ENTITIES),
        "GRUPONOS_SINK__URL": sink_url,
        "GRUPONOS_SINK__PASSWORD": SINK_PASSWORD,
        "GRUPONOS_LOG__FORMAT": "json",
    }
    if oauth2:
        env |= {
            "GRUPONOS_WMS__AUTH": "oauth2",
            "GRUPONOS_WMS__OAUTH2__TOKEN_URL": sim.token_url,
            "GRUPONOS_WMS__OAUTH2__CLIENT_ID": CLIENT_ID,
            "GRUPONOS_WMS__OAUTH2__CLIENT_SECRET": CLIENT_SECRET,
        }
    env.update(extra)
    return env


# -- running gruponos ----------------------------------------------------------------------------

TRACEBACK = "Traceback (most recent call last)"
ERROR_LINE = re.compile(r"^(error|configuration error): .+", re.MULTILINE)


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    traceback: str | None = None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> Any:
        return json.loads(self.stdout)

    def error_code(self) -> str | None:
        """The ``[code]`` of the ``error: ...`` line, if any."""
        found = re.search(r"^error: .*\[([a-z_.]+)\]\s*$", self.stderr, re.MULTILINE)
        return found.group(1) if found else None


def cli(env: Mapping[str, str], *args: str, where: str = "cli") -> Outcome:
    """``gruponos ARGS`` in-process (click's runner); exceptions are caught and reported as a
    traceback the user would have seen."""
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["--env-file", "/nonexistent/.env", "--progress", "never", *args],
        env=dict(env),
        catch_exceptions=True,
    )
    shown = None
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        shown = "".join(traceback.format_exception(result.exception))
    outcome = Outcome(result.exit_code, result.stdout, result.stderr, shown)
    COLLECTOR.add_text(f"{where} {' '.join(args)}", outcome.output + (shown or ""))
    return outcome


def child_env(env: Mapping[str, str]) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("GRUPONOS_")}  # noqa: TID251
    return {**inherited, **env}


def spawn(env: Mapping[str, str], *args: str) -> subprocess.Popen[str]:
    """``gruponos ARGS`` as a child process, JSON logs at debug level on its stderr."""
    return subprocess.Popen(  # noqa: S603 - our own entry point, fixed arguments
        [GRUPONOS, "--env-file", "/nonexistent/.env", "--log-level", "debug", *args],
        env=child_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


class Watched:
    """A child ``gruponos`` whose stderr is read line by line as it runs."""

    def __init__(self, env: Mapping[str, str], *args: str) -> None:
        self.args = args
        self.proc = spawn(env, *args)
        self.lines: list[str] = []
        self.cond = threading.Condition()
        self._err = threading.Thread(target=self._read_stderr, daemon=True)
        self._err.start()
        self.stdout = ""
        self._out = threading.Thread(target=self._read_stdout, daemon=True)
        self._out.start()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        self.stdout = self.proc.stdout.read()

    def count(self, event: str) -> int:
        with self.cond:
            return sum(f'"event": "{event}"' in line for line in self.lines)

    def wait_for(self, event: str, n: int = 1, timeout: float = 60) -> bool:
        """Wait until ``event`` was logged ``n`` times (False: the process ended first)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                if sum(f'"event": "{event}"' in line for line in self.lines) >= n:
                    return True
                if self.proc.poll() is not None and not self._err.is_alive():
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{event} x{n} not seen in {timeout} s")
                self.cond.wait(min(left, 0.05))

    def kill(self) -> bool:
        """SIGKILL; True if the process was still running."""
        alive = self.proc.poll() is None
        if alive:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.finish()
        return alive

    def finish(self, timeout: float = 120) -> Outcome:
        code = self.proc.wait(timeout)
        self._err.join(10)
        self._out.join(10)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        stderr = "".join(self.lines)
        COLLECTOR.add_text(f"child {' '.join(self.args)}", self.stdout + stderr)
        shown = stderr[stderr.index(TRACEBACK) :] if TRACEBACK in stderr else None
        return Outcome(code, self.stdout, stderr, shown)


def run_child(env: Mapping[str, str], *args: str, timeout: float = 120) -> Outcome:
    return Watched(env, *args).finish(timeout)


# -- the target ----------------------------------------------------------------------------------


@contextmanager
def connect(url: str) -> Iterator[Any]:
    if url.startswith("sqlite:///"):
        conn: Any = sqlite3.connect(url.removeprefix("sqlite:///"))
    else:
        conn = psycopg.connect(url, autocommit=True)
    try:
        yield conn
    finally:
        conn.close()


def _ts(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def table(entity: str) -> str:
    return f"WMS_{entity.upper()}"


def snapshot(url: str, entity: str) -> dict[int, datetime]:
    """Live rows of the target: id -> mod_ts."""
    with connect(url) as conn:
        rows = conn.execute(
            f'SELECT "ID", "MOD_TS" FROM "{table(entity)}" WHERE "GNOS_DELETED_AT" IS NULL'
        ).fetchall()
    return {int(i): _ts(m) for i, m in rows}


def duplicates(url: str, entity: str) -> list[tuple[int, int]]:
    with connect(url) as conn:
        rows = conn.execute(
            f'SELECT "ID", COUNT(*) FROM "{table(entity)}" GROUP BY "ID" HAVING COUNT(*) > 1'
        ).fetchall()
    return [(int(i), int(n)) for i, n in rows]


def checkpoints(url: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(pipeline, entity) -> the stored checkpoint document (none yet: empty)."""
    with connect(url) as conn:
        try:
            rows = conn.execute(
                'SELECT "PIPELINE", "ENTITY", "CHECKPOINT" FROM "GNOS_STATE"'
            ).fetchall()
        except (sqlite3.OperationalError, psycopg.errors.UndefinedTable):
            return {}
    return {(p, e): json.loads(c) if isinstance(c, str) else c for p, e, c in rows}


def tables_exist(url: str, entity: str) -> bool:
    with connect(url) as conn:
        try:
            conn.execute(f'SELECT 1 FROM "{table(entity)}" WHERE 1 = 0').fetchall()
        except (sqlite3.OperationalError, psycopg.errors.UndefinedTable):
            return False
    return True


def check_equal(sim: WmsSimulator, url: str, scenario: Scenario) -> list[str]:
    """target == source for every entity; counts losses, stale rows, extras and duplicates."""
    problems: list[str] = []
    for entity in ENTITIES:
        truth = sim.truth(entity)
        target = snapshot(url, entity) if tables_exist(url, entity) else {}
        missing = [i for i in truth if i not in target]
        stale = [i for i, ts in truth.items() if i in target and target[i] != ts]
        extra = [i for i in target if i not in truth]
        dups = duplicates(url, entity) if target else []
        scenario.records_checked += len(truth)
        scenario.losses += len(missing) + len(stale)
        scenario.duplicates += len(dups)
        if missing or stale or extra or dups:
            problems.append(
                f"{entity}: missing {missing[:5]} ({len(missing)}), stale {stale[:5]} "
                f"({len(stale)}), extra {extra[:5]} ({len(extra)}), duplicates {dups[:5]}"
            )
    return problems


def check_checkpoints(sim: WmsSimulator, url: str, scenario: Scenario) -> list[str]:
    """No checkpoint is ahead of committed data (call when the source has not changed since the
    run; a full pass counts ids at or below ``last_id``, an incremental one positions
    ``(mod_ts, id)`` at or below its position)."""
    problems: list[str] = []
    for (pipeline, entity), doc in checkpoints(url).items():
        if entity not in ENTITIES:
            continue
        truth = sim.truth(entity)
        target = snapshot(url, entity) if tables_exist(url, entity) else {}
        if doc.get("mode") == "full":
            last = doc.get("last_id")
            if doc.get("complete"):
                covered = list(truth)
            else:
                covered = [i for i in truth if last is not None and i <= int(last)]
        else:
            if doc.get("mod_ts") is None:
                continue
            position = (datetime.fromisoformat(doc["mod_ts"]), int(doc["id"]))
            covered = [i for i, ts in truth.items() if (ts, i) <= position]
        behind = [i for i in covered if target.get(i) != truth[i]]
        scenario.records_checked += len(covered)
        scenario.checkpoint_ahead += len(behind)
        if behind:
            problems.append(
                f"{pipeline}/{entity}: {len(behind)} records at or before {doc} not committed: {behind[:5]}"
            )
    return problems


def leaks_of(texts_before: int) -> list[str]:
    """Secrets found in what was collected since ``texts_before``."""
    with COLLECTOR.lock:
        texts = COLLECTOR.texts[texts_before:]
    return COLLECTOR.leaks_in(texts)


def fault_kinds(*names: str) -> frozenset[FaultKind]:
    return frozenset(FaultKind(n) for n in names)
