"""Each invalid setting gives one clear message naming it, exit code 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from reliability.rig import COLLECTOR, WMS_PASSWORD, WMS_USER, cli

pytestmark = pytest.mark.reliability

VALID = {
    "GRUPONOS_WMS__BASE_URL": "http://127.0.0.1:9/env",
    "GRUPONOS_WMS__USERNAME": WMS_USER,
    "GRUPONOS_WMS__PASSWORD": WMS_PASSWORD,
    "GRUPONOS_LOG__FORMAT": "json",
}

#: (variable, bad value, the setting the message must name)
BAD = [
    ("GRUPONOS_WMS__PAGE_SIZE", "0", "wms.page_size"),
    ("GRUPONOS_WMS__PAGE_SIZE", "5000", "wms.page_size"),
    ("GRUPONOS_WMS__PAGE_SIZE", "many", "wms.page_size"),
    ("GRUPONOS_WMS__PAGE_MODE", "bogus", "wms.page_mode"),
    ("GRUPONOS_WMS__AUTH", "kerberos", "wms.auth"),
    ("GRUPONOS_WMS__BASE_URL", "ftp://wms.example/env", "wms.base_url"),
    ("GRUPONOS_WMS__BASE_URL", "https://user:pw@wms.example/env", "wms.base_url"),
    ("GRUPONOS_WMS__MAX_ATTEMPTS", "0", "wms.max_attempts"),
    ("GRUPONOS_WMS__MAX_CONCURRENCY", "50", "wms.max_concurrency"),
    ("GRUPONOS_WMS__TIMEOUT_SECONDS", "-1", "wms.timeout_seconds"),
    ("GRUPONOS_WMS__VERIFY_TLS", "maybe", "wms.verify_tls"),
    ("GRUPONOS_WMS__DEFAULT_TIMEZONE", "Mars/Olympus_Mons", "wms.default_timezone"),
    ("GRUPONOS_WMS__OAUTH2__GRANT", "implicit", "wms.oauth2.grant"),
    ("GRUPONOS_SINK__URL", "mysql://db/x", "sink.url"),
    ("GRUPONOS_SINK__TABLE_PREFIX", "x;DROP TABLE y", "sink.table_prefix"),
    ("GRUPONOS_STATE__KIND", "redis", "state.kind"),
    ("GRUPONOS_SYNC__BATCH_SIZE", "-5", "sync.batch_size"),
    ("GRUPONOS_SYNC__OVERLAP_SECONDS", "-1", "sync.overlap_seconds"),
    ("GRUPONOS_SYNC__MAX_REJECT_RATIO", "2", "sync.max_reject_ratio"),
    ("GRUPONOS_ENTITIES", "allocation;drop", "entities"),
    ("GRUPONOS_LOG__LEVEL", "loud", "log.level"),
    ("GRUPONOS_WMS__FILTERS", '{"ordering": "id"}', "wms.filters"),
    ("GRUPONOS_WMS__FILTERS", "facility=FAC1", "wms.filters"),
]


@pytest.mark.parametrize(("variable", "value", "setting"), BAD, ids=lambda v: str(v)[:24])
def test_an_invalid_setting_is_named_with_exit_2(variable: str, value: str, setting: str) -> None:
    scenario = COLLECTOR.scenario("bad_config")
    outcome = cli({**VALID, variable: value}, "sync", "full")
    scenario.runs += 1
    assert outcome.traceback is None, outcome.traceback
    assert "Traceback" not in outcome.output
    assert outcome.code == 2, outcome.output
    assert outcome.stderr.startswith("configuration error:"), outcome.stderr
    assert setting in outcome.stderr, outcome.stderr
    scenario.error_codes["exit 2"] += 1


def test_missing_required_settings_are_all_named() -> None:
    outcome = cli({"GRUPONOS_LOG__FORMAT": "json"}, "sync", "full")
    COLLECTOR.scenario("bad_config").runs += 1
    assert outcome.traceback is None, outcome.traceback
    assert outcome.code == 2, outcome.output
    assert "wms.base_url" in outcome.stderr, outcome.stderr


@pytest.mark.parametrize(
    "toml",
    [
        "[wms\npage_size = ",
        "[wms]\npage_size = 'x'\n",
    ],
    ids=["not_toml", "wrong_type"],
)
def test_a_bad_config_file_is_a_clear_error(toml: str, tmp_path: Path) -> None:
    path = tmp_path / "gruponos.toml"
    path.write_text(toml, encoding="utf-8")
    outcome = cli(VALID, "--config", str(path), "sync", "full")
    COLLECTOR.scenario("bad_config").runs += 1
    assert outcome.traceback is None, outcome.traceback
    assert outcome.code == 2, outcome.output
    assert "configuration error" in outcome.stderr or "error:" in outcome.stderr
