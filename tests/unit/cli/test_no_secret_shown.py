"""No password reaches any output: every setting fed a URL with a password, every command's
stdout and stderr scanned for it (issue 13: a base URL or a sink URL printed its password)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gruponos.adapters.urls import redact
from gruponos.entrypoints.cli import config_doc
from gruponos.entrypoints.cli.main import main

PASSWORD = "S3cret-Pa55"
WITH_PASSWORD = f"http://etl:{PASSWORD}@wms.example.invalid:1/prod"
#: Every leaf setting, by its environment variable.
VARIABLES = sorted(env for _setting, env, *_ in config_doc.rows())
COMMANDS = (["validate"], ["show-config"], ["show-config", "--json"], ["health"], ["sync", "full"])


def _base_env(tmp_path: Path) -> dict[str, str]:
    """A complete configuration whose WMS refuses connections at once."""
    return {
        "GRUPONOS_WMS__BASE_URL": "http://127.0.0.1:1/prod",
        "GRUPONOS_WMS__USERNAME": "etl",
        "GRUPONOS_WMS__PASSWORD": "wms-pw",
        "GRUPONOS_WMS__MAX_ATTEMPTS": "1",
        "GRUPONOS_SINK__URL": f"sqlite:///{tmp_path / 'out.db'}",
        "GRUPONOS_ENTITIES": "order_hdr",
    }


def _outputs(env: dict[str, str], cwd: Path) -> dict[str, tuple[int, str]]:
    found = {}
    for args in COMMANDS:
        result = CliRunner().invoke(
            main, ["--env-file", str(cwd / "none.env"), "--progress", "never", *args], env=env
        )
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            args,
            result.exception,
        )
        found[" ".join(args)] = (result.exit_code, result.stdout + result.stderr)
    return found


@pytest.mark.parametrize("variable", VARIABLES)
def test_a_password_in_any_setting_is_never_printed(variable: str, tmp_path: Path) -> None:
    env = {**_base_env(tmp_path), variable: WITH_PASSWORD}
    for command, (code, output) in _outputs(env, tmp_path).items():
        assert PASSWORD not in output, f"{variable}: `gruponos {command}` (exit {code}) printed it"
        assert "Traceback" not in output


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        # the two of the issue: a WMS URL with credentials, a sink URL with a wrong scheme
        ("GRUPONOS_WMS__BASE_URL", f"http://user:{PASSWORD}@wms.example.invalid/prod"),
        ("GRUPONOS_SINK__URL", f"oracle+oracledb://user:{PASSWORD}@db.example.invalid/svc"),
        # a valid database URL holding its password, whose database is down
        ("GRUPONOS_SINK__URL", f"postgresql://etl:{PASSWORD}@127.0.0.1:1/dwh?connect_timeout=1"),
    ],
)
def test_the_reported_urls_show_a_masked_password(
    variable: str, value: str, tmp_path: Path
) -> None:
    outputs = _outputs({**_base_env(tmp_path), variable: value}, tmp_path)
    text = "".join(output for _code, output in outputs.values())
    assert PASSWORD not in text
    assert ":***@" in text  # the URL is still shown, with its password masked


def test_redact_masks_every_url_in_a_text_and_nothing_else() -> None:
    text = (
        "got 'oracle+oracledb://u:pw1@h/s', then postgresql://etl:p@ss@db:5432/x?sslmode=require"
        " and http:/u:pw3@h/x (a path), not http://user@h/x nor 12:30:45 or a: b:c@d"
    )
    assert redact(text) == (
        "got 'oracle+oracledb://u:***@h/s', then postgresql://etl:***@db:5432/x?sslmode=require"
        " and http:/u:***@h/x (a path), not http://user@h/x nor 12:30:45 or a: b:c@d"
    )
