"""What the CLI prints: JSON logs off a terminal, progress bars on one, the report on stdout."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import time
from pathlib import Path

from e2e.harness import GRUPONOS, child_env, run_process, wms_env
from gruponos.simulator import WmsSimulator


def test_off_a_terminal_every_stderr_line_is_json_with_the_run_id(
    sim: WmsSimulator, tmp_path: Path
) -> None:
    env = wms_env(sim, f"sqlite:///{tmp_path / 'out.db'}", GRUPONOS_LOG__LEVEL="debug")
    done = run_process(["sync", "full"], env)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert len(lines) > 10
    run_ids = {line.get("run_id") for line in lines}
    assert len(run_ids) == 1 and None not in run_ids
    # per-entity lines carry the entity, including the WMS client's own
    pages = [line for line in lines if line["event"] == "wms.page"]
    assert pages and all(line["entity"] for line in pages)
    assert "rec/s" not in done.stderr  # no progress display
    assert "total" in done.stdout and "succeeded" in done.stdout  # the report table


def test_json_report_on_stdout(sim: WmsSimulator, tmp_path: Path) -> None:
    done = run_process(["sync", "full", "--json"], wms_env(sim, f"sqlite:///{tmp_path / 'j.db'}"))
    report = json.loads(done.stdout)
    assert report["status"] == "succeeded" and report["totals"]["read"] == 900


def _run_in_pty(args: list[str], env: dict[str, str], timeout: float = 60) -> tuple[int, str]:
    """Run ``gruponos ARGS`` with stdout and stderr on a pseudo-terminal; return code, output."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(  # noqa: S603 - our own entry point
        [GRUPONOS, "--env-file", "/nonexistent/.env", *args],
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
        env=child_env({**env, "COLUMNS": "160", "TERM": "xterm"}),
    )
    os.close(terminal)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    return process.wait(timeout=10), b"".join(chunks).decode(errors="replace")


def test_on_a_terminal_progress_bars_and_no_json(sim: WmsSimulator, tmp_path: Path) -> None:
    code, output = _run_in_pty(["sync", "full"], wms_env(sim, f"sqlite:///{tmp_path / 't.db'}"))
    assert code == 0, output
    assert "rec/s" in output and "retries" in output  # the progress columns
    for entity in ("order_hdr", "order_dtl", "allocation"):
        assert entity in output
    assert '"run_id"' not in output  # no JSON log lines on a terminal
    assert "total" in output  # the final report table
