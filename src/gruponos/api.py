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
from returns.result import Result, Success

from gruponos.application.errors import SyncError
from gruponos.application.lifecycle import StopSignal
from gruponos.application.ports import Clock, SyncEvent, SyncObserver
from gruponos.domain.checkpoints import SyncMode
from gruponos.domain.errors import DomainError
from gruponos.domain.runs import FAILURE_CODES, RunStatus, SyncReport

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
    from gruponos.settings import load_settings  # noqa: PLC0415 - pydantic, when a run needs it

    def run(chosen: Settings) -> IOResult[SyncReport, SyncError]:
        return _run(
            chosen,
            SyncMode(mode),
            entities or chosen.entities,
            dry_run=dry_run,
            retries=retries,
            retry_delay=retry_delay,
            observer=observer,
            stop=stop,
        )

    given: Result[Settings, DomainError] = (
        load_settings() if settings is None else Success(settings)
    )
    return IOResult.from_result(given.alt(_cannot_start)).bind(run)


def _run(
    settings: Settings,
    mode: SyncMode,
    entities: Sequence[str],
    *,
    dry_run: bool,
    retries: int,
    retry_delay: float,
    observer: SyncObserver | None,
    stop: StopSignal | None,
) -> IOResult[SyncReport, SyncError]:
    # The composition root (and through it the adapters) is loaded by a run, not by this module:
    # the CLI imports run_with_retries without paying for the container.
    from gruponos.container import StartupError, build_container  # noqa: PLC0415

    container = build_container(settings, dry_run=dry_run, observer=observer)
    try:
        use_case = container.sync()
        return run_with_retries(
            lambda names: use_case.run(mode, names, stop),
            entities,
            retries=retries,
            delay=retry_delay,
            clock=container.clock(),
            observer=container.observer(),
        )
    except StartupError as exc:
        return IOFailure(_cannot_start(exc.error))
    finally:
        container.shutdown_resources()


def _cannot_start(cause: DomainError) -> SyncError:
    return SyncError(cause.code, cause.message, {"cause": cause})


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

    def attempt(
        number: int, names: Sequence[str], earlier: tuple[SyncReport, ...]
    ) -> IOResult[SyncReport, SyncError]:
        result = run(names)
        # A failure without a report (nothing ran) is the result: nothing to combine or retry.
        return reported(result).bind(lambda report: then(number, result, (*earlier, report)))

    def then(
        number: int, result: IOResult[SyncReport, SyncError], attempts: tuple[SyncReport, ...]
    ) -> IOResult[SyncReport, SyncError]:
        report = attempts[-1]
        failed = [e.entity for e in report.entities if e.status is RunStatus.FAILED]
        if is_successful(result) or not failed or number == retries or report.status.stopped:
            return result if len(attempts) == 1 else _combined(attempts, entities)
        wait = delay * 2**number
        observer.on_event(
            SyncEvent(
                "retrying_run",
                report.run_id,
                data={
                    "attempt": number + 2,
                    "of": retries + 1,
                    "seconds": wait,
                    "entities": failed,
                },
            )
        )
        clock.sleep(wait)
        return attempt(number + 1, failed, attempts)

    return attempt(0, entities, ())


def reported(result: IOResult[SyncReport, SyncError]) -> IOResult[SyncReport, SyncError]:
    """The run's report, from a success or from a failed run's error; still a failure when
    nothing ran (the error holds no report: a configuration or start-up problem)."""
    return result.lash(_report_in)


def _report_in(error: SyncError) -> IOResult[SyncReport, SyncError]:
    found = error.context.get("report")
    return IOSuccess(found) if isinstance(found, SyncReport) else IOFailure(error)


def _combined(
    attempts: tuple[SyncReport, ...], entities: Sequence[str]
) -> IOResult[SyncReport, SyncError]:
    first, last = attempts[0], attempts[-1]
    latest = {e.entity: e for report in attempts for e in report.entities}
    reports = tuple(latest[e] for e in entities if e in latest)
    stopped = next((e.status for e in reports if e.status.stopped), None)
    report = replace(last, started_at=first.started_at).settled(
        reports, last.finished_at or last.started_at, stopped
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
