"""Where and how the Oracle sink connects: the URL forms, wallets, TNS aliases and thick mode.

python-oracledb's own parser (``ConnectParams.parse_connect_string``) reads the connect strings
gruponos makes, so these tests check what the driver would really dial, without a server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import oracledb
import pytest
from returns.io import IOFailure
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.oracle_config import OracleSinkSettings
from gruponos.adapters.sql import dialect_for, open_sql_backend
from gruponos.adapters.sql.oracle import OracleDialect
from gruponos.adapters.sql.url import parse_sql_url
from support.oracle_fake import FakeOracle


def oracle(url: str, **settings: Any) -> OracleDialect:
    dialect = dialect_for(parse_sql_url(url).unwrap(), OracleSinkSettings(**settings))
    assert isinstance(dialect, OracleDialect)
    return dialect


def dialled(dsn: str, **params: Any) -> oracledb.ConnectParams:
    parsed = oracledb.ConnectParams(**params)
    parsed.parse_connect_string(dsn)
    return parsed  # type: ignore[no-any-return]  # oracledb types it loosely


def test_basic_url_is_host_port_service() -> None:
    params = dialled(oracle("oracle://app@db.example.com/FREEPDB1").connector.dsn)
    assert (params.protocol, params.host, params.port, params.service_name) == (
        "tcp",
        "db.example.com",
        1521,
        "FREEPDB1",
    )


def test_easy_connect_plus_keeps_the_query_tcps_on_1522() -> None:
    url = (
        "oracle://app@adb.eu-frankfurt-1.oraclecloud.com/abc_high.adb.oraclecloud.com"
        "?protocol=tcps&ssl_server_dn_match=true&wallet_location=/run/wallet&retry_count=3"
    )
    params = dialled(oracle(url).connector.dsn)
    assert params.protocol == "tcps"
    assert params.port == 1522
    assert params.host == "adb.eu-frankfurt-1.oraclecloud.com"
    assert params.service_name == "abc_high.adb.oraclecloud.com"
    assert params.wallet_location == "/run/wallet"
    assert params.ssl_server_dn_match is True
    assert params.retry_count == 3


def test_secrets_in_the_query_are_refused_and_not_echoed() -> None:
    result = open_sql_backend("oracle://app@db/svc?wallet_password=hunter2")
    assert isinstance(result, IOFailure)
    error = unsafe_perform_io(result.failure())
    assert error.code == "sink.bad_url"
    assert "GRUPONOS_SINK__ORACLE__WALLET_PASSWORD" in error.message
    assert "hunter2" not in str(error)
    assert "hunter2" not in str(error.context)


def test_tns_alias_resolves_through_config_dir(tmp_path: Path) -> None:
    (tmp_path / "tnsnames.ora").write_text(
        "mydb_high = (description=(address=(protocol=tcps)(port=1522)(host=adb.example.com))"
        "(connect_data=(service_name=abc_high.adb.oraclecloud.com)))\n",
        encoding="utf-8",
    )
    kwargs = oracle("oracle://admin@mydb_high", config_dir=str(tmp_path)).connector.kwargs()
    assert kwargs["dsn"] == "mydb_high"
    params = dialled(kwargs["dsn"], config_dir=kwargs["config_dir"])
    assert (params.host, params.port, params.protocol) == ("adb.example.com", 1522, "tcps")


def test_wallet_and_its_password_reach_the_driver_and_no_message() -> None:
    server = FakeOracle()
    settings = OracleSinkSettings(
        wallet_location="/run/wallet", wallet_password="wallet-secret", config_dir="/run/wallet"
    )
    dialect = OracleDialect(
        "mydb_high",
        user="admin",
        password="db-secret",
        settings=settings,
        driver_connect=server.connect,
    )
    dialect.connect()
    kwargs = server.connect_kwargs[-1]
    assert kwargs["wallet_location"] == "/run/wallet"
    assert kwargs["wallet_password"] == "wallet-secret"
    assert kwargs["config_dir"] == "/run/wallet"
    assert "wallet-secret" not in repr(settings)


def test_thick_mode_initialises_the_client_once_with_lib_dir() -> None:
    server = FakeOracle()
    inits: list[dict[str, Any]] = []
    settings = OracleSinkSettings(thick=True, lib_dir="/opt/instantclient", config_dir="/etc/tns")
    dialect = OracleDialect(
        "db:1521/svc",
        user="app",
        password="pw",
        settings=settings,
        driver_connect=server.connect,
        init_client=lambda **kw: inits.append(kw),
    )
    dialect.connect()
    assert inits == [{"lib_dir": "/opt/instantclient", "config_dir": "/etc/tns"}]
    # thick mode reads config_dir from init_oracle_client, not from connect()
    assert "config_dir" not in server.connect_kwargs[-1]
    thin = OracleDialect(
        "db:1521/svc",
        user="app",
        password="pw",
        driver_connect=server.connect,
        init_client=lambda **kw: inits.append(kw),
    )
    thin.connect()
    assert len(inits) == 1


@pytest.mark.parametrize(
    "url",
    [
        "oracle://app@db/svc?protocol=udp",
        "oracle://app@db/svc?bad%20key=1",
        "oracle://app@db/svc?wallet_location=/a%26b",
    ],
)
def test_a_query_that_is_no_connect_string_is_one_clear_error(url: str) -> None:
    result = open_sql_backend(url)
    assert isinstance(result, IOFailure)
    error = unsafe_perform_io(result.failure())
    assert error.code == "sink.bad_url"
    assert "\n" not in error.message
