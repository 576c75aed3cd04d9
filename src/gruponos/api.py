"""The public Python API: run a sync from settings, with retries, and get a typed report.

>>> import gruponos
>>> result = gruponos.sync("incremental", settings=settings)  # doctest: +SKIP
>>> report = result.unwrap()                                   # doctest: +SKIP

``sync`` wires the real adapters through the container; to inject your own adapters (tests,
other services), build :class:`gruponos.SyncEntities` yourself, e.g. with the in-memory adapters
re-exported by :mod:`gruponos` (see docs/library.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from returns.io import IOFailure, IOResult, IOSuccess
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.application.errors import SyncError
from gruponos.application.lifecycle import StopSignal
from gruponos.application.ports import Clock, SyncEvent, SyncObserver
from gruponos.domain.checkpoints import SyncMode
from gruponos.domain.runs import FAILURE_CODES, EntityReport, RunStatus, SyncReport

if TYPE_CHECKING:
    from gruponos.settings import Settings

RunOnce = Callable[[Sequence[str]], IOResult[SyncReport, SyncError]]


def sync(
    mode: SyncMode | str,
    *,
    settings: Settings | None = None,
    entities: Sequence[str] | None = None,
    dry_run: bool = False,
    retries: int = 0,
    retry_delay: float = 5.0,
    observer: SyncObserver | None = None,
    stop: StopSignal | None = None,
) -> IOResult[SyncReport, SyncError]:
    """Run a full or incremental sync of ``entities`` (default: the configured ones).

    ``stop`` (a :class:`gruponos.StopSignal`) ends the run early once requested, from a signal
    handler or another thread: the batch in flight commits with its checkpoint and the run
    ends ``interrupted`` or ``cancelled`` (code ``sync.interrupted`` / ``sync.cancelled``).

    ``settings`` default to :func:`gruponos.load_settings` (environment, ``.env``). A failed run
    is re-run up to ``retries`` times, after ``retry_delay * 2**attempt`` seconds, for the
    entities that failed; each re-run resumes from the committed checkpoint.

    Returns ``IOSuccess(report)``, or ``IOFailure(SyncError)``: code ``sync.failed`` or
    ``sync.rejected`` (``context["report"]`` is the report), or the code of the configuration or
    start-up problem (``config.invalid``, ``sink.connect_failed`` ...) when no run could start.
    """
    # The composition root (and through it the adapters) is loaded by a run, not by this module:
    # the CLI imports run_with_retries and report_of without paying for the container.
    from gruponos.container import StartupError, build_container  # noqa: PLC0415
    from gruponos.settings import load_settings  # noqa: PLC0415

    if settings is None:
        loaded = load_settings()
        if not is_successful(loaded):
            cause = loaded.failure()
            return IOFailure(SyncError(cause.code, cause.message, {"cause": cause}))
        settings = loaded.unwrap()
    container = build_container(settings, dry_run=dry_run, observer=observer)
    try:
        use_case = container.sync()
        return run_with_retries(
            lambda names: use_case.run(SyncMode(mode), names, stop),
            entities or settings.entities,
            retries=retries,
            delay=retry_delay,
            clock=container.clock(),
            observer=container.observer(),
        )
    except StartupError as exc:
        return IOFailure(SyncError(exc.error.code, exc.error.message, {"cause": exc.error}))
    finally:
        container.shutdown_resources()


def run_with_retries(
    run: RunOnce,
    entities: Sequence[str],
    *,
    retries: int,
    delay: float,
    clock: Clock,
    observer: SyncObserver,
) -> IOResult[SyncReport, SyncError]:
    """Run, and re-run the entities that failed (not those rejected: a re-read will not fix
    the data) with exponential backoff through ``clock.sleep``.

    The result's report combines the attempts: the latest report of every entity, the first
    attempt's start, the last attempt's run id. Every attempt is also a run in the history.
    """
    latest: dict[str, EntityReport] = {}
    attempts: list[SyncReport] = []
    remaining = list(entities)
    for attempt in range(retries + 1):
        result = run(remaining)
        report = report_of(result)
        if report is None:  # nothing ran (no report): nothing to combine or retry
            return result
        attempts.append(report)
        latest.update((e.entity, e) for e in report.entities)
        failed = [e.entity for e in report.entities if e.status is RunStatus.FAILED]
        if is_successful(result) or not failed or attempt == retries or report.status.stopped:
            break
        wait = delay * 2**attempt
        observer.on_event(
            SyncEvent(
                "retrying_run",
                report.run_id,
                data={
                    "attempt": attempt + 2,
                    "of": retries + 1,
                    "seconds": wait,
                    "entities": failed,
                },
            )
        )
        clock.sleep(wait)
        remaining = failed
    if len(attempts) == 1:
        return result
    return _combined(attempts[0], attempts[-1], [latest[e] for e in entities if e in latest])


def report_of(result: IOResult[SyncReport, SyncError]) -> SyncReport | None:
    """The run's report, from a success or from a failed run's error (None: nothing ran)."""
    if is_successful(result):
        return unsafe_perform_io(result.unwrap())
    found = unsafe_perform_io(result.failure()).context.get("report")
    return found if isinstance(found, SyncReport) else None


def _combined(
    first: SyncReport, last: SyncReport, entities: list[EntityReport]
) -> IOResult[SyncReport, SyncError]:
    stopped = next((e.status for e in entities if e.status.stopped), None)
    report = replace(last, started_at=first.started_at).settled(
        tuple(entities), last.finished_at or last.started_at, stopped
    )
    if report.status is RunStatus.SUCCEEDED:
        return IOSuccess(report)
    return IOFailure(
        SyncError(
            FAILURE_CODES[report.status],
            report.error or "sync failed",
            {"run_id": last.run_id, "report": report},
        )
    )
