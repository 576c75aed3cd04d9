"""The ``tap-gruponos`` and ``target-gruponos`` executables (Singer command-line conventions).

Exit codes, as for ``gruponos``: 0 ok, 1 failed, 2 configuration or usage error, 3 finished but
rejected records are over ``max_reject_ratio``. Logs are JSON lines on stderr; stdout carries only
Singer messages.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.__about__ import __version__
from gruponos.adapters.logs import configure_logging
from gruponos.adapters.runtime import tune_allocator
from gruponos.adapters.singer.config import TapConfig, TargetConfig, config_problems
from gruponos.adapters.singer.streams import Selection
from gruponos.adapters.singer.tap import QuarantineFile, SingerTap
from gruponos.adapters.singer.target import SingerTarget
from gruponos.adapters.sql import open_sql_backend
from gruponos.adapters.wms_http import HttpxWmsSource

FAILED, CONFIG, REJECTED = 1, 2, 3
C = TypeVar("C", bound=BaseModel)

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


def _config(program: str, path: Path | None, model: type[C]) -> C:
    data = _read_json(program, path, "config") if path is not None else {}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = config_problems(exc)
        _fail(program, "invalid config:\n  " + "\n  ".join(problems), CONFIG)


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
    config = _config(program, args.config, TapConfig)
    try:
        client = config.client_config()
    except ValueError as exc:
        _fail(program, f"invalid config: {exc}", CONFIG)
    catalog_path = args.catalog or args.properties
    selection = None
    if catalog_path is not None:
        try:
            selection = Selection.from_catalog(_read_json(program, catalog_path, "catalog"))
        except ValueError as exc:
            _fail(program, f"invalid catalog: {exc}", CONFIG)
    state = _read_json(program, args.state, "state") if args.state else {}
    quarantine = QuarantineFile(config.quarantine_file) if config.quarantine_file else None
    out = sys.stdout.buffer
    with HttpxWmsSource(client) as source:
        tap = SingerTap(config, source, out, rejects=quarantine)
        try:
            if args.discover:
                discovered = tap.discover()
                if not is_successful(discovered):
                    _fail(program, str(unsafe_perform_io(discovered.failure())), FAILED)
                catalog = unsafe_perform_io(discovered.unwrap())
                out.write(orjson.dumps(catalog, option=orjson.OPT_INDENT_2) + b"\n")
                return
            synced = tap.sync(state, selection)
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
    over = [s.stream for s in report.streams if s.reject_ratio > config.max_reject_ratio]
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
    config = _config(program, args.config, TargetConfig)
    password = config.password.get_secret_value() if config.password else None
    opened = open_sql_backend(
        config.url,
        password=password,
        table_prefix=config.table_prefix,
        history=config.load_method == "append-only",
    )
    if not is_successful(opened):
        _fail(program, str(unsafe_perform_io(opened.failure())), FAILED)
    run_id = f"target-{uuid.uuid4()}"
    with unsafe_perform_io(opened.unwrap()) as backend:
        target = SingerTarget(config, backend.sink, sys.stdout.buffer, run_id=run_id)
        result = target.process(sys.stdin.buffer)
    if not is_successful(result):
        _fail(program, str(unsafe_perform_io(result.failure())), FAILED)
    report = unsafe_perform_io(result.unwrap())
    sys.stderr.write(
        orjson.dumps({"event": "target.summary", "run_id": run_id, **report.to_json()}).decode()
        + "\n"
    )
    if report.reject_ratio > config.max_reject_ratio:
        _fail(program, f"{report.reject_ratio:.1%} of records quarantined", REJECTED)
