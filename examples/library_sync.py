"""Use gruponos as a library: a sync with settings, then one with adapters of your own.

Run it: ``.venv/bin/python examples/library_sync.py`` (starts a simulated WMS in-process and writes
``gruponos-example.db`` in the current directory, or the path given as the first argument).
"""

from __future__ import annotations

import sys
from pathlib import Path

from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

import gruponos
from gruponos.simulator import SimulatorConfig, WmsSimulator


def sync_with_settings(db: Path) -> gruponos.SyncReport:
    """The real adapters (HTTP client, SQLite sink), wired from settings by the container."""
    with WmsSimulator(SimulatorConfig(records=500)) as wms:
        settings = gruponos.load_settings(
            env_file=None,
            wms={"base_url": wms.base_url, "username": "wms_user", "password": "wms_password"},
            sink={"url": f"sqlite:///{db}"},
        ).unwrap()  # a Result: Failure(ConfigError) lists every invalid setting
        result = gruponos.sync("full", settings=settings, entities=["order_hdr"], retries=1)
    if not is_successful(result):
        error = unsafe_perform_io(result.failure())  # SyncError: code, message, context
        raise SystemExit(f"sync failed: {error.code}: {error.message}")
    return unsafe_perform_io(result.unwrap())


def sync_with_own_adapters() -> gruponos.SyncReport:
    """The use case with injected adapters: here the in-memory ones gruponos ships."""
    from gruponos.domain.schema import FieldType, SourceField, build_schema  # noqa: PLC0415

    schema = build_schema(
        "order_hdr",
        [
            SourceField("id", FieldType.PK),
            SourceField("mod_ts", FieldType.DATETIME),
            SourceField("order_nbr", FieldType.VARCHAR, max_length=50),
        ],
    ).unwrap()
    wms = gruponos.InMemoryWms({"order_hdr": schema})
    for i in range(1, 11):
        wms.insert("order_hdr", i, order_nbr=f"SO{i:04d}")
    db = gruponos.InMemoryDatabase()
    use_case = gruponos.SyncEntities(
        source=wms,
        sink=gruponos.InMemorySink(db),
        state=gruponos.InMemoryStateStore(),
        runs=gruponos.InMemoryRunHistory(db),
        clock=gruponos.ManualClock(),
        new_run_id=lambda: "example-run",
    )
    return unsafe_perform_io(use_case.run(gruponos.SyncMode.FULL, ["order_hdr"]).unwrap())


if __name__ == "__main__":
    gruponos.configure_logging("json", "warning")  # structlog: JSON lines on stderr
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("gruponos-example.db")
    report = sync_with_settings(target)
    sys.stdout.write(f"{report.mode} sync {report.run_id}: {report.status}, {report.totals}\n")
    own = sync_with_own_adapters()
    sys.stdout.write(f"in-memory sync {own.run_id}: {own.status}, read {own.totals['read']}\n")
