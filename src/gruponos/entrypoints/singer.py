"""The ``tap-gruponos`` and ``target-gruponos`` executables (Singer command-line conventions).

Each maps its ``--config`` JSON onto the one settings model
(:func:`gruponos.settings.tap_settings`, :func:`~gruponos.settings.target_settings`), resolves
its use case from the container like the ``gruponos`` CLI (the tap:
:class:`~gruponos.application.extract.ExtractEntities` over the WMS source; the target:
:class:`~gruponos.application.load.LoadStreams` over the SQL sink), hands it the Singer adapters
(stdout, stdin) and is the only place where their results are unwrapped.

Exit codes, as for ``gruponos``: 0 ok, 1 failed, 2 configuration or usage error, 3 finished but
rejected records are over ``max_reject_ratio``. Logs are JSON lines on stderr; stdout carries only
Singer messages.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

import orjson
from pydantic import BaseModel
from returns.io import IOResult
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.__about__ import __version__
from gruponos.adapters.logs import configure_logging
from gruponos.adapters.runtime import tune_allocator
from gruponos.adapters.singer.config import TapConfig, TargetConfig
from gruponos.adapters.singer.streams import QUARANTINE_STREAM, Selection
from gruponos.adapters.singer.tap import (
    QuarantineFile,
    SingerTapOutput,
    bookmark_checkpoints,
    catalog,
)
from gruponos.adapters.singer.target import SingerStates, SingerTarget
from gruponos.application.errors import ConfigError
from gruponos.application.extract import ExtractEntities, ExtractOptions, TapReport
from gruponos.application.load import LoadOptions, LoadStreams, TargetReport
from gruponos.application.railway import widened
from gruponos.domain.errors import DomainError
from gruponos.domain.records import NormalizeOptions

if TYPE_CHECKING:
    from gruponos.container import Container
    from gruponos.settings import Settings, TapSettings, TargetSettings

FAILED, CONFIG, REJECTED = 1, 2, 3

TAP_CAPABILITIES = ("about", "catalog", "discover", "properties", "state")
TARGET_CAPABILITIES = ("about",)


def _fail(program: str, message: str, code: int) -> NoReturn:
    sys.stderr.write(f"{program}: {message}\n")
    sys.stderr.flush()
    raise SystemExit(code)


def _read_json(program: str, path: Path, what: str) -> dict[str, Any]:
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        _fail(program, f"cannot read the {what} file {path}: {exc.strerror}", CONFIG)
    except orjson.JSONDecodeError as exc:
        _fail(program, f"the {what} file {path} is not JSON: {exc}", CONFIG)
    if not isinstance(data, dict):
        _fail(program, f"the {what} file {path} must hold a JSON object", CONFIG)
    return data


def _tap_config(program: str, path: Path) -> TapSettings:
    """The tap's config as settings, or exit 2 listing every invalid or missing key."""
    from gruponos.settings import tap_settings  # noqa: PLC0415 - pydantic-settings, when needed

    validated = tap_settings(_read_json(program, path, "config"))
    if not is_successful(validated):
        _fail(program, validated.failure().message, CONFIG)
    return validated.unwrap()


def _target_config(program: str, path: Path | None) -> TargetSettings:
    """The target's config as settings (no file: every default), or exit 2."""
    from gruponos.settings import target_settings  # noqa: PLC0415 - pydantic-settings, when needed

    data = _read_json(program, path, "config") if path is not None else {}
    validated = target_settings(data)
    if not is_successful(validated):
        _fail(program, validated.failure().message, CONFIG)
    return validated.unwrap()


@contextmanager
def _wired(program: str, settings: Settings) -> Iterator[Container]:
    """The container for ``settings``; an adapter that cannot start exits with one line (2 for
    a configuration problem, else 1)."""
    from gruponos.container import StartupError, build_container  # noqa: PLC0415

    container = build_container(settings)
    try:
        yield container
    except StartupError as exc:
        _fail(program, str(exc.error), CONFIG if isinstance(exc.error, ConfigError) else FAILED)
    finally:
        container.shutdown_resources()


def _about(
    name: str, description: str, capabilities: Sequence[str], model: type[BaseModel], fmt: str
) -> None:
    about: dict[str, Any] = {
        "name": name,
        "description": description,
        "version": __version__,
        "capabilities": list(capabilities),
        "settings": model.model_json_schema(),
    }
    if fmt == "json":
        sys.stdout.write(orjson.dumps(about, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    lines = [f"{name} {__version__}: {description}", "", "Settings:"]
    for key, spec in about["settings"]["properties"].items():
        lines.append(f"  {key}: {spec.get('description', spec.get('title', ''))}")
    sys.stdout.write("\n".join(lines) + "\n")


def _parser(program: str, tap: bool) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=program)
    parser.add_argument("--config", type=Path, help="JSON config file")
    parser.add_argument("--about", action="store_true", help="describe this plugin and exit")
    parser.add_argument(
        "--format", choices=("json", "text"), default="text", help="format of --about"
    )
    parser.add_argument("--version", action="version", version=f"{program} {__version__}")
    if tap:
        parser.add_argument("--state", type=Path, help="Singer state file (bookmarks)")
        parser.add_argument("--catalog", type=Path, help="Singer catalog (stream selection)")
        parser.add_argument("--properties", type=Path, help="legacy name of --catalog")
        parser.add_argument("--discover", action="store_true", help="print the catalog and exit")
    parser.add_argument(
        "--log-level", choices=("debug", "info", "warning", "error"), default="info"
    )
    return parser


def _selection(program: str, path: Path | None) -> Selection | None:
    """The streams a ``--catalog`` selects (``None``: no catalog, everything)."""
    if path is None:
        return None
    try:
        return Selection.from_catalog(_read_json(program, path, "catalog"))
    except ValueError as exc:
        _fail(program, f"invalid catalog: {exc}", CONFIG)


def tap_main(argv: Sequence[str] | None = None) -> None:
    """``tap-gruponos``: Oracle WMS Cloud entities as Singer streams."""
    program = "tap-gruponos"
    args = _parser(program, tap=True).parse_args(argv)
    tune_allocator()
    configure_logging("json", args.log_level)  # stderr: stdout is the Singer stream
    if args.about:
        _about(
            program,
            "Oracle WMS Cloud (lgfapi v10) entities as Singer streams",
            TAP_CAPABILITIES,
            TapConfig,
            args.format,
        )
        return
    if args.config is None:
        _fail(program, "--config is required", CONFIG)
    tap = _tap_config(program, args.config)
    settings = tap.settings
    selection = _selection(program, args.catalog or args.properties)
    state = _read_json(program, args.state, "state") if args.state else {}
    quarantine = QuarantineFile(tap.quarantine_file) if tap.quarantine_file else None
    out = sys.stdout.buffer
    try:
        with _wired(program, settings) as container:
            if args.discover:
                discovered = discover(container, tap)
                if not is_successful(discovered):
                    _fail(program, str(unsafe_perform_io(discovered.failure())), FAILED)
                listed = unsafe_perform_io(discovered.unwrap())
                out.write(orjson.dumps(listed, option=orjson.OPT_INDENT_2) + b"\n")
                return
            synced = extract(container, tap, out, state, selection, rejects=quarantine)
    finally:
        out.flush()
        if quarantine is not None:
            quarantine.close()
    if not is_successful(synced):
        _fail(program, str(unsafe_perform_io(synced.failure())), FAILED)
    report = unsafe_perform_io(synced.unwrap())
    sys.stderr.write(
        orjson.dumps({"event": "tap.summary", "streams": report.to_json()}).decode() + "\n"
    )
    over = report.over_reject_ratio(settings.sync.max_reject_ratio)
    if over:
        _fail(program, f"rejected records over max_reject_ratio in: {', '.join(over)}", REJECTED)


def target_main(argv: Sequence[str] | None = None) -> None:
    """``target-gruponos``: Singer streams into SQLite, PostgreSQL or Oracle."""
    program = "target-gruponos"
    args = _parser(program, tap=False).parse_args(argv)
    tune_allocator()
    configure_logging("json", args.log_level)
    if args.about:
        _about(
            program,
            "Singer streams into SQLite, PostgreSQL or Oracle (monotonic upserts)",
            TARGET_CAPABILITIES,
            TargetConfig,
            args.format,
        )
        return
    target = _target_config(program, args.config)
    settings = target.settings
    run_id = f"target-{uuid.uuid4()}"
    with _wired(program, settings) as container:
        result = load(container, target, sys.stdin.buffer, sys.stdout.buffer, run_id=run_id)
    if not is_successful(result):
        _fail(program, str(unsafe_perform_io(result.failure())), FAILED)
    report = unsafe_perform_io(result.unwrap())
    sys.stderr.write(
        orjson.dumps({"event": "target.summary", "run_id": run_id, **report.to_json()}).decode()
        + "\n"
    )
    if report.reject_ratio > settings.sync.max_reject_ratio:
        _fail(program, f"{report.reject_ratio:.1%} of records quarantined", REJECTED)


# -- the programs' work, over a container (the executables above and the tests) --------------------


def _extraction(container: Container, tap: TapSettings) -> ExtractEntities:
    incremental = tap.sync_mode == "incremental"
    options = ExtractOptions(
        incremental=incremental, start_date=tap.start_date, overlap=tap.settings.sync.overlap
    )
    use_case: ExtractEntities = container.extract(options=options)
    return use_case


def discover(container: Container, tap: TapSettings) -> IOResult[dict[str, Any], DomainError]:
    """``tap-gruponos --discover``: the catalog of the configured entities."""
    incremental = tap.sync_mode == "incremental"
    schemas = widened(_extraction(container, tap).discover(tap.settings.entities))
    return schemas.map(lambda found: catalog(found, incremental=incremental))


def extract(
    container: Container,
    tap: TapSettings,
    out: IO[bytes],
    state: Mapping[str, Any],
    selection: Selection | None = None,
    *,
    rejects: Callable[[dict[str, Any]], None] | None = None,
) -> IOResult[TapReport, DomainError]:
    """``tap-gruponos``: the selected streams (every entity and the quarantine stream without a
    catalog) as Singer messages on ``out``, each from its bookmark in ``state``."""
    chosen = selection or Selection.everything(tap.settings.entities)
    output = SingerTapOutput(
        out,
        chosen,
        incremental=tap.sync_mode == "incremental",
        state=state,
        rejects=rejects,
    )
    use_case = _extraction(container, tap)
    start = bookmark_checkpoints(state, chosen.entities)
    return widened(output.open()).bind(lambda _: use_case.run(chosen.entities, start, output))


def load(
    container: Container,
    target: TargetSettings,
    lines: Iterable[bytes | str],
    out: IO[bytes],
    *,
    run_id: str,
) -> IOResult[TargetReport, DomainError]:
    """``target-gruponos``: Singer ``lines`` into the sink; committed states on ``out``."""
    options = LoadOptions(
        run_id=run_id,
        batch_size=target.settings.sync.batch_size,
        overwrite=target.load_method == "overwrite",
        normalize=NormalizeOptions(default_tz=UTC),  # Singer: a bare timestamp is UTC
        forwarded_stream=QUARANTINE_STREAM,
    )
    use_case: LoadStreams = container.load(states=SingerStates(out), options=options)
    return SingerTarget(use_case, container.clock()).process(lines)
