"""The CLI without services: usage, exit codes, start-up errors, the configuration reference."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

from click.testing import CliRunner, Result

from gruponos.adapters.progress import RichProgressObserver
from gruponos.application.ports import SyncEvent
from gruponos.entrypoints.cli import config_doc
from gruponos.entrypoints.cli.main import main

DOC = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"
WMS = {
    "GRUPONOS_WMS__BASE_URL": "http://127.0.0.1:1/x",
    "GRUPONOS_WMS__USERNAME": "u",
    "GRUPONOS_WMS__PASSWORD": "p",
}


def _invoke(*args: str, **env: str) -> Result:
    return CliRunner().invoke(
        main, ["--env-file", "/nonexistent/.env", *args], env=env, catch_exceptions=False
    )


def test_list_pipelines_names_the_two_pipelines() -> None:
    result = _invoke("list-pipelines")
    assert result.exit_code == 0
    assert "full-sync" in result.stdout and "incremental-sync" in result.stdout


def test_an_unknown_mode_or_pipeline_is_a_usage_error() -> None:
    assert _invoke("sync", "sideways").exit_code == 2
    assert _invoke("run", "nightly").exit_code == 2


def test_an_invalid_entity_is_a_configuration_error_listing_the_setting() -> None:
    result = _invoke("sync", "full", "--entity", "Bad-Name", **WMS)
    assert result.exit_code == 2
    assert result.stderr.startswith("configuration error: ")
    assert "GRUPONOS_ENTITIES" in result.stderr


def test_a_start_up_error_is_one_line_without_a_traceback() -> None:
    result = _invoke(
        "sync",
        "full",
        GRUPONOS_SINK__URL="sqlite:////proc/gruponos/x.db",  # a database that cannot be opened
        **WMS,
    )
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ") and "[sink.connect_failed]" in lines[0]
    assert "Traceback" not in result.output


def test_a_bad_filter_setting_is_a_configuration_error_naming_it(tmp_path: Path) -> None:
    result = _invoke(
        "sync",
        "full",
        GRUPONOS_WMS__FILTERS='{"page_size": "5"}',  # a parameter the client sets itself
        GRUPONOS_SINK__URL=f"sqlite:///{tmp_path / 'x.db'}",
        **WMS,
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("configuration error: ")
    assert "wms.filters" in result.stderr and "'page_size'" in result.stderr


def test_recreate_needs_confirmation() -> None:
    result = _invoke("tables", "recreate", **WMS)
    assert result.exit_code == 2 and "--yes" in result.stderr


def test_the_configuration_reference_is_up_to_date() -> None:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(config_doc.BEGIN)
    end = text.index(config_doc.END) + len(config_doc.END)
    assert text[start:end] == config_doc.reference(), (
        "docs/configuration.md is out of date: "
        "python -m gruponos.entrypoints.cli.config_doc docs/configuration.md"
    )


def test_every_setting_has_a_meaning_and_an_env_var() -> None:
    for setting, env, _type, _default, meaning in config_doc.rows():
        assert meaning, f"{setting}: add its meaning to config_doc.MEANINGS"
        assert env.startswith("GRUPONOS_")


def test_progress_display_draws_each_entity_with_its_counts() -> None:
    out = StringIO()
    with RichProgressObserver(out, width=160) as progress:
        progress.on_event(SyncEvent("entity_started", "r1", "allocation"))
        progress.on_event(
            SyncEvent("page_read", "r1", "allocation", {"records": 250, "retries": 2})
        )
        progress.on_event(SyncEvent("entity_finished", "r1", "allocation", {"status": "succeeded"}))
    text = out.getvalue()
    assert "allocation" in text and "250 records" in text and "2 retries" in text
    assert "succeeded" in text


def test_no_progress_display_off_a_terminal_unless_forced() -> None:
    from gruponos.entrypoints.cli.context import CliContext  # noqa: PLC0415

    auto = CliContext(None, None, None, None, None, "auto")
    assert auto.show_progress() is False  # pytest's stderr is not a terminal
    assert CliContext(None, None, None, None, None, "always").show_progress() is True
    assert CliContext(None, None, None, None, None, "never").show_progress() is False
