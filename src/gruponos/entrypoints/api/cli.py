"""``gruponos api serve`` and ``gruponos api key create``.

FastAPI, uvicorn and the JWT library load when a command runs, not with ``gruponos --help``.
"""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path

import click

from gruponos.entrypoints.cli.context import CliContext, ExitCode, fail, pass_cli
from gruponos.entrypoints.extras import require_extra

#: Set for uvicorn's worker processes (``api.workers`` > 1), which build the app themselves.
_INSECURE_ENV = "GRUPONOS_API_INSECURE_DEV"
INSECURE_WARNING = (
    "WARNING: --insecure-dev: no authentication, every request is admin; "
    "listening on loopback only. Never run this way in production."
)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.group("api")
def api() -> None:
    """The REST API service: start and watch runs over HTTP."""


@api.command("serve")
@click.option("--host", default=None, help="Address to listen on (default: api.host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Default: api.port.")
@click.option(
    "--insecure-dev",
    is_flag=True,
    help="No authentication (every caller is admin); only on a loopback address.",
)
@pass_cli
def serve(cli: CliContext, host: str | None, port: int | None, insecure_dev: bool) -> None:
    """Serve the API (uvicorn). Refuses to start without JWT or API-key authentication
    configured, unless --insecure-dev on a loopback address."""
    require_extra("api", "gruponos api serve")
    settings = cli.settings()
    config = settings.api
    host = host or config.host
    port = port or config.port
    if insecure_dev and not _loopback(host):
        fail(f"--insecure-dev is only allowed on a loopback address, not {host}", ExitCode.CONFIG)
    if not config.authentication_configured and not insecure_dev:
        fail(
            "configuration error: the API needs authentication: set GRUPONOS_API__JWKS_URL or "
            "GRUPONOS_API__JWKS_FILE (with ISSUER and AUDIENCE), or GRUPONOS_API__KEYS "
            "(gruponos api key create); --insecure-dev only on loopback",
            ExitCode.CONFIG,
        )
    if config.jwks_file is not None and not config.jwks_file.is_file():
        fail(
            f"configuration error: api.jwks_file {config.jwks_file} is not a file", ExitCode.CONFIG
        )
    if insecure_dev:
        click.echo(INSECURE_WARNING, err=True)
    ways = [w for w, on in (("jwt", config.jwt_enabled), ("api keys", bool(config.keys))) if on]
    click.echo(
        f"gruponos API on http://{host}:{port} (auth: {', '.join(ways) or 'none'})", err=True
    )
    import uvicorn  # noqa: PLC0415 - the server, when serving

    from gruponos.entrypoints.api.app import create_app  # noqa: PLC0415

    options = {
        "host": host,
        "port": port,
        "timeout_keep_alive": config.timeout_keep_alive_seconds,
        "timeout_graceful_shutdown": config.graceful_shutdown_seconds,
        "log_config": None,  # gruponos' logging (structlog) is configured already
        "server_header": False,
    }
    if config.workers > 1:
        # Each worker process builds its own app from the same configuration.
        os.environ[_INSECURE_ENV] = "1" if insecure_dev else ""  # noqa: TID251 - for the workers
        for name, value in (
            ("GRUPONOS_CONFIG_FILE", cli.config_file),
            ("GRUPONOS_SECRETS_DIR", cli.secrets_dir),
        ):
            if value is not None:
                os.environ[name] = str(value)  # noqa: TID251 - for the workers
        uvicorn.run(
            "gruponos.entrypoints.api.cli:app_from_environment",
            factory=True,
            workers=config.workers,
            **options,  # type: ignore[arg-type]
        )
        return
    with cli.wired(settings) as container:
        uvicorn.run(create_app(container, insecure_dev=insecure_dev), **options)  # type: ignore[arg-type]


def app_from_environment() -> object:
    """The app of one uvicorn worker process (``api.workers`` > 1)."""
    from gruponos.container import build_container  # noqa: PLC0415
    from gruponos.entrypoints.api.app import create_app  # noqa: PLC0415

    cli = CliContext(
        config_file=_path(os.environ.get("GRUPONOS_CONFIG_FILE")),  # noqa: TID251
        secrets_dir=_path(os.environ.get("GRUPONOS_SECRETS_DIR")),  # noqa: TID251
        env_file=None,
        log_format=None,
        log_level=None,
    )
    insecure = os.environ.get(_INSECURE_ENV) == "1"  # noqa: TID251 - set by serve
    return create_app(build_container(cli.settings()), insecure_dev=insecure)


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


@api.group("key")
def key() -> None:
    """API keys: the settings keep only their SHA-256."""


@key.command("create")
@click.option("--name", required=True, help="A name for the key (letters, digits, _ . -).")
@click.option(
    "--role", required=True, type=click.Choice(["viewer", "operator", "admin"]), help="Its role."
)
def key_create(name: str, role: str) -> None:
    """Print a new key (once: it is not stored anywhere) and its settings entry."""
    require_extra("api", "gruponos api key create")
    from pydantic import ValidationError  # noqa: PLC0415

    from gruponos.adapters.api_settings import ApiKeySettings  # noqa: PLC0415
    from gruponos.entrypoints.api.auth import new_api_key  # noqa: PLC0415

    secret, digest = new_api_key()
    try:
        entry = ApiKeySettings(name=name, role=role, sha256=digest)
    except ValidationError:
        fail(
            "--name must be 1-64 letters, digits, _ . or -, starting with a letter or digit",
            ExitCode.CONFIG,
        )
    click.echo(f"key: {secret}")
    click.echo("(shown once: give it to the client; only its hash goes into the settings)")
    click.echo("settings entry (add it to the JSON list GRUPONOS_API__KEYS):")
    click.echo(json.dumps(entry.model_dump(exclude={"revoked"})))
