"""Secrets never reach output: the WMS password, the OAuth2 client secret, every bearer token the
simulator issued, the sink password (setting and URL) are searched for in everything gruponos
printed or logged, here on purpose-built error paths (and, by the autouse fixture, in every test
of the suite)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import pytest

from reliability.rig import (
    COLLECTOR,
    URL_PASSWORD,
    check_equal,
    cli,
    env_for,
    run_child,
    simulator,
)

pytestmark = pytest.mark.reliability

WRONG_PASSWORD = "Wr0ng-Pa55w0rd-0c0ffee5"


def test_error_paths_and_admin_commands_do_not_show_secrets(sqlite_url: str) -> None:
    scenario = COLLECTOR.scenario("secrets")
    COLLECTOR.add_secret(WRONG_PASSWORD)
    with simulator(records=50) as sim:
        env = env_for(sim, sqlite_url, oauth2=True)
        for args in (
            ("show-config",),
            ("show-config", "--json"),
            ("validate",),
            ("health", "--json"),
        ):
            outcome = cli(env, *args)
            scenario.runs += 1
            assert outcome.traceback is None, outcome.traceback
        # a wrong password and a wrong client secret: refused, and not repeated back
        for wrong in (
            {"GRUPONOS_WMS__AUTH": "basic", "GRUPONOS_WMS__PASSWORD": WRONG_PASSWORD},
            {"GRUPONOS_WMS__OAUTH2__CLIENT_SECRET": WRONG_PASSWORD},
        ):
            outcome = cli({**env, **wrong}, "sync", "full", "--json")
            scenario.runs += 1
            assert outcome.code == 1, outcome.output[-2000:]
            assert "wms.unauthorized" in outcome.output
        # a database that refuses the connection, the password in its URL
        refused = f"postgresql://postgres:{URL_PASSWORD}@127.0.0.1:1/test"
        outcome = cli({**env, "GRUPONOS_SINK__URL": refused}, "sync", "full")
        scenario.runs += 1
        assert outcome.code == 1, outcome.output[-2000:]
        assert outcome.error_code() == "sink.connect_failed", outcome.stderr
        # a real sync at debug level in a child process, OAuth2 tokens issued and refreshed
        sim.expire_tokens()
        outcome = run_child(env, "sync", "full", "--json")
        scenario.runs += 1
        assert outcome.code == 0, outcome.stderr[-2000:]
        assert not (problems := check_equal(sim, sqlite_url, scenario)), problems
        assert sim.auth.issued >= 1


@pytest.mark.postgres
def test_a_password_in_the_postgres_url_stays_out_of_output(pg_url: str) -> None:
    scenario = COLLECTOR.scenario("secrets")
    parts = urlsplit(pg_url)
    with_password = urlunsplit(
        parts._replace(netloc=f"postgres:{URL_PASSWORD}@{parts.hostname}:{parts.port}")
    )
    with simulator(records=50) as sim:
        env = env_for(sim, with_password)
        for args in (("sync", "full", "--json"), ("verify",), ("runs", "list"), ("show-config",)):
            outcome = run_child(env, *args) if args[0] == "sync" else cli(env, *args)
            scenario.runs += 1
            assert outcome.code == 0, outcome.output[-2000:]
