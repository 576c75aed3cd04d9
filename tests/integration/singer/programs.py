"""The Singer programs' work in-process, wired as the executables wire it: settings from a
``--config`` dict, the one container, the entrypoint's functions (tests may put their own sink
or source in the container)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any

from dependency_injector import providers
from returns.io import IOResult
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.singer.streams import Selection
from gruponos.application.extract import TapReport
from gruponos.application.load import TargetReport
from gruponos.application.ports import RecordSink, WmsSource
from gruponos.container import Container, build_container
from gruponos.domain.errors import DomainError
from gruponos.entrypoints import singer
from gruponos.settings import TapSettings, TargetSettings, tap_settings, target_settings
from gruponos.simulator import WmsSimulator


def tap_keys(sim: WmsSimulator, **keys: Any) -> dict[str, Any]:
    """A valid tap ``--config`` against ``sim`` (basic auth), with ``keys`` on top."""
    config = {"base_url": sim.base_url, "username": "wms_user", "password": "wms_password"}
    return {**config, **keys}


def tap_config(sim: WmsSimulator, **keys: Any) -> TapSettings:
    return tap_settings(tap_keys(sim, **keys)).unwrap()


def target_config(**keys: Any) -> TargetSettings:
    return target_settings(keys).unwrap()


@contextmanager
def wired(
    settings: TapSettings | TargetSettings,
    *,
    source: WmsSource | None = None,
    sink: RecordSink | None = None,
) -> Iterator[Container]:
    container = build_container(settings.settings)
    if source is not None:
        container.wms.override(providers.Object(source))
    if sink is not None:
        container.sink.override(providers.Object(sink))
    try:
        yield container
    finally:
        container.shutdown_resources()


def run_tap(
    tap: TapSettings,
    state: Mapping[str, Any] | None = None,
    selection: Selection | None = None,
    *,
    out: IO[bytes] | None = None,
    rejects: Callable[[dict[str, Any]], None] | None = None,
    source: WmsSource | None = None,
) -> IOResult[TapReport, DomainError]:
    with wired(tap, source=source) as container:
        return singer.extract(
            container, tap, out or io.BytesIO(), state or {}, selection, rejects=rejects
        )


def discover(tap: TapSettings) -> dict[str, Any]:
    with wired(tap) as container:
        return unsafe_perform_io(singer.discover(container, tap).unwrap())


def run_target(
    target: TargetSettings,
    lines: Iterable[bytes | str],
    out: IO[bytes] | None = None,
    *,
    sink: RecordSink | None = None,
    run_id: str = "run-1",
) -> IOResult[TargetReport, DomainError]:
    with wired(target, sink=sink) as container:
        return singer.load(container, target, lines, out or io.BytesIO(), run_id=run_id)
