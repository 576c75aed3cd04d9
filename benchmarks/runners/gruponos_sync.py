"""One gruponos sync of ``allocation`` (full or incremental), as the benchmark's measured process.

python gruponos_sync.py BASE_URL DATABASE_URL full|incremental [--metrics] [--readers N]

``--metrics`` wires the run as ``gruponos sync`` does with metrics on (the metrics observer, WMS
requests counted, commits timed); without it no metric is counted. ``--readers N`` sets
``sync.read_parallelism`` (and lets the WMS client have N requests in flight); without it the
defaults hold.
"""

from __future__ import annotations

import sys
import time

from gruponos.adapters.runtime import tune_allocator

try:
    from gruponos.adapters.runtime import pause_gc, resume_gc
except ImportError:  # a tree from before the pause ("before" runs, docs/performance.md): none

    def pause_gc() -> None:
        pass

    def resume_gc() -> None:
        pass


pause_gc()  # as the gruponos program does while a sync starts (resumed when the run starts)

from returns.pipeline import is_successful  # noqa: E402 - after the pause, as in the program

from gruponos.adapters.logs import LoggingObserver, configure_logging  # noqa: E402
from gruponos.container import build_container  # noqa: E402
from gruponos.domain.checkpoints import SyncMode  # noqa: E402
from gruponos.settings import load_settings  # noqa: E402


def main() -> None:
    base_url, database_url, mode = sys.argv[1:4]
    options = sys.argv[4:]
    with_metrics = "--metrics" in options
    readers = int(options[options.index("--readers") + 1]) if "--readers" in options else None
    sync = {} if readers is None else {"read_parallelism": readers}
    wms_cap = {} if readers is None else {"max_concurrency": max(readers, 4)}
    tune_allocator()  # as the gruponos command does at start
    configure_logging("json", "warning")
    wms = {"base_url": base_url, "username": "wms_user", "password": "wms_password"}
    settings = load_settings(
        env_file=None,
        wms={**wms, "page_size": 1250, **wms_cap},
        sink={"url": database_url},
        sync=sync,
        metrics={"enabled": with_metrics},
    ).unwrap()
    container = build_container(settings)
    if with_metrics:
        from gruponos.entrypoints.cli.monitoring import monitored  # noqa: PLC0415 - only then

        monitored(container, settings, LoggingObserver())
    use_case = container.sync()
    resume_gc()
    started = time.perf_counter()
    result = use_case.run(SyncMode(mode), ["allocation"])
    seconds = time.perf_counter() - started
    container.shutdown_resources()
    print(f"gruponos {mode}: {seconds:.2f} s in the sync, ok={is_successful(result)}")
    sys.exit(0 if is_successful(result) else 1)


if __name__ == "__main__":
    main()
