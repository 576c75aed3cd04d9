"""Monitoring settings through the CLI: secrets masked in show-config, bad values one line and
exit 2."""

from __future__ import annotations

from click.testing import CliRunner

from gruponos.adapters.alerts import SmtpChannel, WebhookChannel
from gruponos.entrypoints.cli.main import main

TOKEN = "T0KEN-9f8e7d6c"
SMTP_PASSWORD = "Smtp-Secret-5a4b"


def _cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--env-file", "/nonexistent/.env", *args], env=env)
    return result.exit_code, result.output


def test_show_config_masks_the_webhook_url_and_the_smtp_password() -> None:
    env = {
        "GRUPONOS_ALERTS__WEBHOOK__URL": f"https://hooks.example/services/{TOKEN}",
        "GRUPONOS_ALERTS__SMTP__HOST": "smtp.example",
        "GRUPONOS_ALERTS__SMTP__PASSWORD": SMTP_PASSWORD,
        "GRUPONOS_METRICS__PUSHGATEWAY_URL": f"http://push:{TOKEN}@gw:9091",
    }
    for args in (("show-config",), ("show-config", "--json")):
        code, output = _cli(env, *args)
        assert code == 0, output
        assert "alerts.smtp.host" in output or '"host": "smtp.example"' in output
        assert TOKEN not in output and SMTP_PASSWORD not in output
    assert TOKEN not in repr(WebhookChannel(f"https://hooks.example/{TOKEN}"))
    channel = SmtpChannel("smtp.example", 587, "a@b", ("c@d",), password=SMTP_PASSWORD)
    assert SMTP_PASSWORD not in repr(channel)


def test_bad_monitoring_values_are_one_line_and_exit_2() -> None:
    for env in (
        {"GRUPONOS_METRICS__PUSHGATEWAY_URL": "gw:9091"},
        {"GRUPONOS_ALERTS__WEBHOOK__FORMAT": "discord"},
        {"GRUPONOS_ALERTS__CONSECUTIVE_FAILURES": "1"},
    ):
        code, output = _cli(env, "validate")
        assert code == 2, output
        assert output.startswith("configuration error") and "Traceback" not in output
