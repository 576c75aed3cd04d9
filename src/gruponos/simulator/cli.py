"""``gruponos simulator serve``: run the WMS simulator in the foreground.

Bad input (an option value, a port in use or out of range, an address not on this host) is one
line on stderr and exit 2, never a traceback.
"""

from __future__ import annotations

import errno
import shlex
import socket
from datetime import datetime
from typing import Any, NoReturn

import click

from gruponos.simulator.config import ENTITIES, FaultKind, SimulatorConfig, parse_utc_offset
from gruponos.simulator.server import WmsSimulator

_KINDS = ", ".join(k.value for k in FaultKind)
_DEFAULT_PASSWORD = "wms_password"  # noqa: S105 - the simulator's documented demo password
_USAGE_ERROR = 2
_BIND_REASONS = {
    errno.EADDRINUSE: "the port is in use (choose another --port, or --port 0 for any free one)",
    errno.EADDRNOTAVAIL: "that address is not one of this host's (try --host 127.0.0.1)",
    errno.EACCES: "permission denied (ports below 1024 need privileges)",
}


def _usage_error(message: str) -> NoReturn:
    click.echo(f"simulator: {message}", err=True)
    raise SystemExit(_USAGE_ERROR)


def _bind_error(host: str, port: int, exc: OSError) -> str:
    if isinstance(exc, socket.gaierror):
        reason = f"unknown host name {host!r}"
    else:
        reason = _BIND_REASONS.get(exc.errno or 0, exc.strerror or str(exc))
    return f"cannot listen on {host}:{port}: {reason}"


def _entity_records(values: tuple[str, ...]) -> dict[str, int]:
    result: dict[str, int] = {}
    for value in values:
        name, sep, count = value.partition("=")
        if not sep or name not in ENTITIES or not count.isdigit():
            msg = f"expected ENTITY=N with ENTITY one of {', '.join(ENTITIES)}: {value!r}"
            raise click.BadParameter(msg)
        result[name] = int(count)
    return result


@click.group(name="simulator")
def simulator() -> None:
    """A stand-in Oracle WMS Cloud (lgfapi v10) server for demos, tests and benchmarks."""


@simulator.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=int,
    help="Port to listen on, 0..65535 (0 = any free port).",
)
@click.option(
    "--env",
    default="gruponos",
    show_default=True,
    help="Environment path segment: the base URL is http://HOST:PORT/ENV.",
)
@click.option(
    "--records",
    default=1000,
    show_default=True,
    type=int,
    help="Initial rows of every entity (allocation, order_hdr, order_dtl).",
)
@click.option(
    "--entity-records",
    multiple=True,
    metavar="ENTITY=N",
    help="Initial rows of one entity, overriding --records (repeatable).",
)
@click.option(
    "--seed",
    default=42,
    show_default=True,
    type=int,
    help="Seed of the deterministic data generator.",
)
@click.option(
    "--page-size-default",
    default=100,
    show_default=True,
    type=int,
    help="page_size when a request does not send one (the user's rows per page).",
)
@click.option(
    "--page-size-max",
    default=1250,
    show_default=True,
    type=int,
    help="Largest page_size accepted; larger ones get a 400.",
)
@click.option(
    "--username",
    default="wms_user",
    show_default=True,
    help="HTTP Basic user name (also the password grant's user).",
)
@click.option(
    "--password",
    default=_DEFAULT_PASSWORD,
    show_default=True,
    help="HTTP Basic password (also the password grant's password).",
)
@click.option(
    "--client-id",
    default="wms_client",
    show_default=True,
    help="OAuth2 client id for the token endpoint.",
)
@click.option(
    "--client-secret",
    default="wms_client_secret",
    show_default=True,
    help="OAuth2 client secret for the token endpoint.",
)
@click.option(
    "--token-lifetime",
    default=3600.0,
    show_default=True,
    type=float,
    help="Seconds a bearer token stays valid.",
)
@click.option(
    "--facility-tz",
    default="-03:00",
    show_default=True,
    help="UTC offset used for filter timestamps sent without one.",
)
@click.option(
    "--data-start",
    default="2024-01-01T00:00:00+00:00",
    show_default=True,
    help="create_ts of the first generated row (ISO-8601 with offset).",
)
@click.option(
    "--data-span-days",
    default=365,
    show_default=True,
    type=int,
    help="Days over which initial create_ts values are spread.",
)
@click.option(
    "--fault-rate",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Probability that a list/detail request gets a fault.",
)
@click.option(
    "--fault-kinds",
    default="all",
    show_default=True,
    help=f"Comma list of fault kinds to draw from: {_KINDS}; or 'all'.",
)
@click.option(
    "--fault-seed",
    default=0,
    show_default=True,
    type=int,
    help="Seed of the fault draw (same seed, same faults).",
)
@click.option(
    "--slow-seconds", default=2.0, show_default=True, type=float, help="Delay of the 'slow' fault."
)
@click.option(
    "--retry-after",
    default=1,
    show_default=True,
    type=int,
    help="Retry-After seconds sent with 429 and 503.",
)
@click.option(
    "--change-rate",
    default=0.0,
    show_default=True,
    type=float,
    help="Random changes (touch/insert/delete) per list request, to its entity.",
)
@click.option(
    "--change-seed", default=0, show_default=True, type=int, help="Seed of the change draw."
)
@click.option(
    "--change-mix",
    default="0.6,0.25,0.15",
    show_default=True,
    help="Weights of touch,insert,delete in change mode.",
)
@click.option(
    "--read-ahead/--no-read-ahead",
    default=False,
    show_default=True,
    help="Render a sequenced page's next page while the client reads this one "
    "(served only if nothing changed; off in change mode).",
)
@click.option(
    "--latency-ms",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Latency mode: milliseconds every list/detail request waits before its answer "
    "(e.g. 200, like a WMS across the internet).",
)
def serve(**opts: Any) -> None:
    """Serve the simulated lgfapi v10 until interrupted (Ctrl-C).

    Prints the ``export GRUPONOS_WMS__...`` lines that point gruponos at it.
    """
    host, port = str(opts["host"]), int(opts["port"])
    if not 0 <= port <= 65535:  # the range of a TCP port
        _usage_error(f"--port must be within 0..65535 (got {port})")
    try:
        touch_w, insert_w, delete_w = (float(w) for w in opts.pop("change_mix").split(","))
        config = SimulatorConfig(
            entity_records=_entity_records(opts.pop("entity_records")),
            token_lifetime_seconds=opts.pop("token_lifetime"),
            facility_tz=parse_utc_offset(opts.pop("facility_tz")),
            data_start=datetime.fromisoformat(opts.pop("data_start")),
            fault_kinds=FaultKind.parse_list(opts.pop("fault_kinds")),
            retry_after_seconds=opts.pop("retry_after"),
            change_mix=(touch_w, insert_w, delete_w),
            latency_seconds=opts.pop("latency_ms") / 1000,
            **opts,
        )
    except ValueError as exc:
        _usage_error(str(exc))
    started = False

    def ready(sim: WmsSimulator) -> None:
        nonlocal started
        started = True
        password = (
            config.password if config.password == _DEFAULT_PASSWORD else "<the --password value>"
        )
        click.echo(
            f"WMS simulator: {sim.api_url}/entity/  (token URL {sim.token_url})\n"
            "Point gruponos at it (Ctrl-C stops the simulator):\n"
            f"  export GRUPONOS_WMS__BASE_URL={shlex.quote(sim.base_url)}\n"
            f"  export GRUPONOS_WMS__USERNAME={shlex.quote(config.username)}\n"
            f"  export GRUPONOS_WMS__PASSWORD={shlex.quote(password)}"
        )

    try:
        WmsSimulator(config).serve_forever(ready)
    except KeyboardInterrupt:
        click.echo("stopped")
    except (OSError, OverflowError) as exc:
        if started:
            raise  # not a bad option: the server failed while serving
        error = exc if isinstance(exc, OSError) else OSError(0, str(exc))
        _usage_error(_bind_error(host, port, error))
