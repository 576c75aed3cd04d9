"""``gruponos health``: is every dependency there? One row per check, exit 1 on any failure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click
from returns.io import IOResult
from returns.pipeline import is_successful
from returns.unsafe import unsafe_perform_io

from gruponos.domain.errors import DomainError
from gruponos.entrypoints.cli.context import CliContext, ExitCode, pass_cli
from gruponos.entrypoints.cli.render import print_json, print_table

if TYPE_CHECKING:
    from gruponos.container import Container
    from gruponos.settings import Settings

#: What a failing check most likely means, by error code: the hint shown to the operator.
_HINTS = {
    "wms.unauthorized": "the WMS refused the credentials (GRUPONOS_WMS__USERNAME / __PASSWORD "
    "or the OAuth2 client)",
    "wms.forbidden": "the WMS user lacks lgfapi_read_access",
    "wms.retries_exhausted": "the WMS is unreachable or failing (GRUPONOS_WMS__BASE_URL)",
    "wms.not_found": "no lgfapi at that address (GRUPONOS_WMS__BASE_URL up to the environment)",
    "sink.connect_failed": "the database is unreachable or refused the login "
    "(GRUPONOS_SINK__URL / GRUPONOS_SINK__PASSWORD)",
    "sink.unavailable": "the database answered but is not writable",
    "sink.not_ready": "the database login cannot run the sink (docs/sinks.md lists the grants)",
}


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    code: str | None = None


def _failed(name: str, error: DomainError) -> Check:
    hint = _HINTS.get(error.code)
    detail = f"{hint}: {error.message}" if hint else error.message
    return Check(name, ok=False, detail=detail, code=error.code)


def _probe(name: str, ok_detail: str, probe: Callable[[], IOResult[object, DomainError]]) -> Check:
    from gruponos.container import StartupError  # noqa: PLC0415 - loaded by the command only

    try:
        result = probe()
    except StartupError as exc:
        return _failed(name, exc.error)
    if is_successful(result):
        return Check(name, ok=True, detail=ok_detail)
    return _failed(name, unsafe_perform_io(result.failure()))


def probe_sink(settings: Settings) -> Check:
    """The sink's own check alone (reachable, writable, grants and character set on Oracle)."""
    from gruponos.container import build_container  # noqa: PLC0415 - loaded by the command only

    container = build_container(settings)
    try:
        ok = f"reachable and writable ({settings.sink.kind})"
        return _probe("sink", ok, lambda: container.sink().check())
    finally:
        container.shutdown_resources()


def run_checks(container: Container) -> list[Check]:
    """Configuration, WMS (reachable, authenticated), sink (reachable, writable), state."""
    from gruponos.settings import readiness_problems  # noqa: PLC0415 - loaded by the command only

    settings = container.settings()
    problems = readiness_problems(settings)
    checks = [
        Check(
            "configuration",
            ok=not problems,
            detail="; ".join(problems) or "complete",
            code="config.incomplete" if problems else None,
        )
    ]
    if problems:
        checks.append(Check("wms", ok=False, detail="skipped: configuration incomplete"))
    else:
        checks.append(
            _probe(
                "wms",
                f"reachable and authenticated at {settings.wms.base_url}",
                lambda: container.probe_wms().check(),
            )
        )
    sink = _probe(
        "sink", f"reachable and writable ({settings.sink.kind})", lambda: container.sink().check()
    )
    checks.append(sink)
    if settings.state.kind == "sink" and not sink.ok:
        checks.append(Check("state", ok=False, detail="skipped: the state lives in the sink"))
    else:
        checks.append(
            _probe("state", f"readable ({settings.state.kind})", lambda: container.state().all())
        )
    return checks


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def health(cli: CliContext, as_json: bool) -> None:
    """Check the WMS (reachable, credentials accepted), the database (reachable, writable) and
    the state store (readable). Exit 1 when any check fails."""
    from gruponos.container import build_container  # noqa: PLC0415 - loaded by the command only

    settings = cli.settings()
    container = build_container(settings)
    try:
        checks = run_checks(container)
    finally:
        container.shutdown_resources()
    if as_json:
        print_json(
            [{"check": c.name, "ok": c.ok, "detail": c.detail, "code": c.code} for c in checks]
        )
    else:
        print_table(
            "gruponos health",
            ("check", "status", "detail"),
            [
                (c.name, "ok" if c.ok else "FAILED", c.detail + (f" [{c.code}]" if c.code else ""))
                for c in checks
            ],
        )
    failed = [c for c in checks if not c.ok]
    if failed:
        click.echo("unhealthy: " + ", ".join(c.name for c in failed), err=True)
        raise SystemExit(int(ExitCode.FAILED))
