"""Configuration: every source, every bad field reported, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from returns.pipeline import is_successful

from gruponos.domain.naming import DEFAULT_ENTITIES
from gruponos.entrypoints.cli.main import main
from gruponos.settings import load_settings, masked, tap_settings, target_settings

SECRETS = {
    "GRUPONOS_WMS__PASSWORD": "wms-pa55-SECRET",
    "GRUPONOS_WMS__OAUTH2__CLIENT_SECRET": "client-SECRET-42",
    "GRUPONOS_SINK__PASSWORD": "db-SECRET-pw",
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("GRUPONOS_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_environment_nested_and_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRUPONOS_ENTITIES", "order_hdr, allocation,order_hdr")
    monkeypatch.setenv("GRUPONOS_WMS__PAGE_SIZE", "1250")
    monkeypatch.setenv("GRUPONOS_SINK__TABLE_PREFIX", "wms_")
    settings = load_settings(env_file=None).unwrap()
    assert settings.entities == ("order_hdr", "allocation")
    assert settings.wms.page_size == 1250
    assert settings.sink.table_prefix == "WMS_"


def test_every_invalid_field_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRUPONOS_WMS__PAGE_SIZE", "5000")
    monkeypatch.setenv("GRUPONOS_WMS__MAX_CONCURRENCY", "10")
    monkeypatch.setenv("GRUPONOS_SINK__URL", "mysql://db")
    monkeypatch.setenv("GRUPONOS_ENTITIES", "allocation,DROP TABLE")
    monkeypatch.setenv("GRUPONOS_SYNC__MAX_REJECT_RATIO", "2")
    error = load_settings(env_file=None).failure()
    fields = " ".join(error.context["fields"])
    for name in (
        "wms.page_size",
        "wms.max_concurrency",
        "sink.url",
        "entities",
        "sync.max_reject_ratio",
    ):
        assert name in fields
    assert "GRUPONOS_WMS__PAGE_SIZE" in fields  # the variable to fix is named


def test_toml_file_dotenv_and_secrets_dir_with_priorities(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = tmp_path / "gruponos.toml"
    toml.write_text(
        'entities = ["order_dtl"]\n[wms]\nbase_url = "https://wms.example/prod"\n'
        'username = "from-toml"\npage_size = 10\n[sink]\nurl = "sqlite:///x.db"\n'
    )
    env_file = tmp_path / ".env"
    env_file.write_text("GRUPONOS_WMS__PAGE_SIZE=20\n")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "gruponos_wms__password").write_text("from-secret-file")
    settings = load_settings(toml, secrets, env_file).unwrap()
    assert settings.entities == ("order_dtl",)
    assert settings.wms.username == "from-toml"
    assert settings.wms.page_size == 20  # .env beats the TOML file
    assert settings.wms.password is not None
    assert settings.wms.password.get_secret_value() == "from-secret-file"
    monkeypatch.setenv("GRUPONOS_WMS__PAGE_SIZE", "30")
    assert load_settings(toml, secrets, env_file).unwrap().wms.page_size == 30  # env beats all


def test_missing_files_are_clear_errors(tmp_path: Path) -> None:
    assert load_settings(tmp_path / "nope.toml").failure().code == "config.file_missing"
    missing = load_settings(secrets_dir=tmp_path / "nope").failure()
    assert missing.code == "config.secrets_dir_missing"


def test_masked_settings_hide_every_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GRUPONOS_SINK__URL", "postgresql://etl:url-SECRET@db:5432/wms")
    text = repr(masked(load_settings(env_file=None).unwrap()))
    for secret in [*SECRETS.values(), "url-SECRET"]:
        assert secret not in text
    assert "**********" in text


def test_show_config_never_prints_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GRUPONOS_SINK__URL", "postgresql://etl:url-SECRET@db:5432/wms")
    for args in (["show-config"], ["show-config", "--json"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        assert "wms.page_size = 1000" in result.output or '"page_size": 1000' in result.output
        for secret in [*SECRETS.values(), "url-SECRET"]:
            assert secret not in result.output


def test_validate_lists_every_invalid_field_and_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRUPONOS_WMS__PAGE_SIZE", "0")
    monkeypatch.setenv("GRUPONOS_SINK__URL", "mysql://db")
    monkeypatch.setenv("GRUPONOS_WMS__BASE_URL", "ftp://wms")
    result = CliRunner().invoke(main, ["validate"])
    assert result.exit_code == 2
    for name in ("wms.page_size", "sink.url", "wms.base_url"):
        assert name in result.output
    assert "Traceback" not in result.output


def test_validate_reports_missing_connection_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRUPONOS_WMS__AUTH", "oauth2")
    result = CliRunner().invoke(main, ["validate"])
    assert result.exit_code == 2
    for name in (
        "wms.base_url",
        "wms.oauth2.token_url",
        "wms.oauth2.client_id",
        "wms.oauth2.client_secret",
    ):
        assert name in result.output


def test_validate_accepts_a_complete_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRUPONOS_WMS__BASE_URL", "https://ta3.wms.ocs.oraclecloud.com/prod")
    monkeypatch.setenv("GRUPONOS_WMS__USERNAME", "integ")
    monkeypatch.setenv("GRUPONOS_WMS__PASSWORD", "pw")
    result = CliRunner().invoke(main, ["validate"])
    assert result.exit_code == 0, result.output
    assert is_successful(load_settings(env_file=None))


@pytest.mark.parametrize("which", ["--config", "--env-file"])
def test_a_file_that_is_not_utf8_is_one_line_and_exit_2(which: str, tmp_path: Path) -> None:
    bad = tmp_path / ("latin1.toml" if which == "--config" else "latin1.env")
    text = '[wms]\nusername = "café"\n' if which == "--config" else "GRUPONOS_WMS__USERNAME=café\n"
    bad.write_bytes(text.encode("latin-1"))
    args = [which, str(bad)] if which == "--config" else ["--env-file", str(bad)]
    result = CliRunner().invoke(main, [*args, "validate"])
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    offset = text.index("é")
    expected = f"{bad} ({which}) is not UTF-8 text: byte 0xe9 at offset {offset}; save it as UTF-8"
    assert result.output.strip().splitlines() == [f"configuration error: {expected}"]


@pytest.mark.parametrize(
    "url", ["sqlite://", "sqlite:///", "postgresql://host:5432/", "oracle://etl@db:1521"]
)
def test_an_incomplete_sink_url_fails_validate(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRUPONOS_SINK__URL", url)
    result = CliRunner().invoke(main, ["validate"])
    assert result.exit_code == 2
    assert "sink.url: " in result.output and "[GRUPONOS_SINK__URL]" in result.output


def test_paged_reads_without_overlap_are_refused_naming_both_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GRUPONOS_WMS__PAGE_MODE", "paged")
    monkeypatch.setenv("GRUPONOS_SYNC__OVERLAP_SECONDS", "0")
    error = load_settings(env_file=None).failure()
    assert "wms.page_mode" in error.message and "sync.overlap_seconds" in error.message
    monkeypatch.setenv("GRUPONOS_SYNC__OVERLAP_SECONDS", "1")
    assert is_successful(load_settings(env_file=None))
    monkeypatch.setenv("GRUPONOS_WMS__PAGE_MODE", "sequenced")
    monkeypatch.setenv("GRUPONOS_SYNC__OVERLAP_SECONDS", "0")
    assert is_successful(load_settings(env_file=None))


def test_filters_take_numbers_and_booleans_as_lgfapi_writes_them(tmp_path: Path) -> None:
    toml = tmp_path / "f.toml"
    toml.write_text(
        '[wms.filters]\nfacility_id__code = "FAC1"\nstatus_id__gte = 10\n'
        "is_picking_flg = true\nwave_id__isnull = false\nalloc_qty__gt = 1.5\n"
    )
    filters = load_settings(toml, env_file=None).unwrap().wms.filters
    assert filters == {
        "facility_id__code": "FAC1",
        "status_id__gte": "10",
        "is_picking_flg": "true",
        "wave_id__isnull": "false",
        "alloc_qty__gt": "1.5",
    }


def test_a_bad_filter_names_where_it_was_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = tmp_path / "f.toml"
    toml.write_text('[wms]\nfilters = { page = 1, facility_id__code = ["a"] }\n')
    fields = load_settings(toml, env_file=None).failure().context["fields"]
    assert len(fields) == 1 and fields[0].endswith(f"[[wms] filters in {toml}]"), fields
    env_file = tmp_path / "x.env"
    env_file.write_text('GRUPONOS_WMS__FILTERS={"page": 1}\n')
    (field,) = load_settings(env_file=env_file).failure().context["fields"]
    assert "'page'" in field and field.endswith(f"[GRUPONOS_WMS__FILTERS in {env_file}]")
    monkeypatch.setenv("GRUPONOS_WMS__FILTERS", '{"ordering": "id"}')
    (field,) = load_settings(env_file=env_file).failure().context["fields"]
    assert "'ordering'" in field and field.endswith("[GRUPONOS_WMS__FILTERS]")


def test_a_rule_across_settings_names_where_each_value_came_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GRUPONOS_WMS__PAGE_MODE", "paged")
    monkeypatch.setenv("GRUPONOS_SYNC__OVERLAP_SECONDS", "0")
    (line,) = load_settings(env_file=None).failure().context["fields"]
    assert "loses rows" in line
    assert line.endswith("[GRUPONOS_WMS__PAGE_MODE, GRUPONOS_SYNC__OVERLAP_SECONDS]")


def test_the_tap_config_obeys_the_settings_rules_under_its_own_keys() -> None:
    error = tap_settings(
        {
            "base_url": "https://u:p@wms.example/prod",
            "username": "u",
            "password": "tap-SECRET",
            "page_size": 5000,
            "entities": "order_hdr,DROP TABLE",
            "token_url": "not a url",
            "filters": {"ordering": "-id"},
            "max_reject_ratio": 2,
        }
    ).failure()
    lines = error.context["fields"]
    for key in ("base_url", "page_size", "entities", "token_url", "filters", "max_reject_ratio"):
        assert any(line.startswith(f"{key}: ") for line in lines), (key, lines)
    assert not any("wms." in line or "GRUPONOS_" in line for line in lines)
    assert "tap-SECRET" not in error.message
    assert error.code == "config.invalid"


def test_the_tap_config_takes_the_settings_defaults_and_ignores_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GRUPONOS_WMS__PAGE_SIZE", "7")
    tap = tap_settings(
        {"base_url": "https://wms.example/prod/", "username": "u", "password": "p"}
    ).unwrap()
    default = load_settings(env_file=None, wms={"page_size": 1000}).unwrap()
    assert tap.settings.wms.page_size == 1000
    assert tap.settings.entities == default.entities == DEFAULT_ENTITIES
    assert tap.settings.sync == default.sync
    assert tap.settings.wms.base_url == "https://wms.example/prod"
    assert tap.sync_mode == "incremental"


@pytest.mark.parametrize(
    ("config", "missing"),
    [
        ({}, ["base_url", "username", "password"]),
        (
            {"base_url": "https://w.example/p", "auth": "oauth2", "oauth2_grant": "password"},
            ["token_url", "client_id", "client_secret", "username", "password"],
        ),
    ],
)
def test_the_tap_config_must_be_complete(config: dict[str, str], missing: list[str]) -> None:
    lines = tap_settings(config).failure().context["fields"]
    assert [line.split(":")[0] for line in lines] == missing


def test_the_target_config_maps_onto_the_sink_settings() -> None:
    target = target_settings(
        {"url": "postgres://etl@db/dwh", "load_method": "append-only", "table_prefix": "x_"}
    ).unwrap()
    assert target.settings.sink.kind == "postgres"
    assert target.settings.sink.history is True
    assert target.settings.sink.table_prefix == "X_"
    assert target.load_method == "append-only"
    error = target_settings({"url": "mysql://db/x", "batch_size": 0, "nope": 1, "password": 5})
    keys = [line.split(":")[0] for line in error.failure().context["fields"]]
    assert keys == ["password", "nope", "url", "batch_size"]  # mistyped, unknown, then the rules
