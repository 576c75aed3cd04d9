"""Opening an Oracle session: where (URL -> Easy Connect Plus or TNS alias), how (thin or thick,
wallet, keepalive), and what every session gets set before the sink uses it.

URL forms (all ``oracle://``; the password comes from the secret, never from the query):

- ``oracle://user@host:1521/service``: basic;
- ``oracle://user@host:1522/service?protocol=tcps&ssl_server_dn_match=true``: Easy Connect Plus;
  every query parameter but ``protocol`` is passed on as an Easy Connect Plus parameter
  (``wallet_location``, ``expire_time``, ``retry_count`` ...), ``tcps`` defaults to port 1522;
- ``oracle://user@alias``: no port, no service: a TNS alias, looked up in ``tnsnames.ora`` in
  ``sink.oracle.config_dir`` (an Autonomous Database wallet's directory is one).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import oracledb
import structlog

from gruponos.adapters.oracle_config import OracleSinkSettings
from gruponos.adapters.sql.url import SqlUrl

log = structlog.get_logger(__name__)

UTF8 = "AL32UTF8"
STANDARD_BYTES = 4000
_SECRET_PARAMS = frozenset({"password", "wallet_password", "user", "username"})
_PARAM = re.compile(r"^[a-z_]{1,64}$")
_VALUE = re.compile(r"^[^\s&=?()]{0,1024}$")
#: One query for what the session needs to know: the character set, and the longest VARCHAR2 in
#: bytes (RPAD stops at 4000 bytes under MAX_STRING_SIZE=STANDARD, 32767 under EXTENDED; unlike
#: V$PARAMETER this needs no grant).
FACTS_SQL = (
    "SELECT VALUE, LENGTHB(RPAD('x', 32767, 'x')) FROM NLS_DATABASE_PARAMETERS"
    " WHERE PARAMETER = 'NLS_CHARACTERSET'"
)
_client_lock = threading.Lock()


class OracleSetupError(Exception):
    """A session gruponos must not use (e.g. a character set that loses text)."""

    sink_code = "sink.not_ready"


@dataclass(frozen=True, slots=True)
class SessionFacts:
    """What a connected database is: its character set and its longest VARCHAR2 in bytes."""

    charset: str = UTF8
    max_string_bytes: int = STANDARD_BYTES


def oracle_dsn(url: SqlUrl) -> str:
    """The connect string for python-oracledb; ``ValueError`` naming what is wrong."""
    params = dict(parse_qsl(urlsplit(url.without_password).query, keep_blank_values=True))
    secret = sorted(_SECRET_PARAMS & {k.lower() for k in params})
    if secret:
        raise ValueError(
            f"{', '.join(secret)} must not be in the URL: use GRUPONOS_SINK__PASSWORD and "
            "GRUPONOS_SINK__ORACLE__WALLET_PASSWORD"
        )
    bad = [k for k, v in params.items() if not _PARAM.match(k) or not _VALUE.match(v)]
    if bad:
        raise ValueError(f"not an Easy Connect Plus parameter: {', '.join(map(repr, bad))}")
    protocol = params.pop("protocol", "tcp").lower()
    if protocol not in ("tcp", "tcps"):
        raise ValueError(f"protocol must be tcp or tcps, not {protocol!r}")
    if not url.database:
        if params or url.port or protocol != "tcp":
            raise ValueError(
                "a TNS alias (oracle://user@alias) takes its options from tnsnames.ora"
            )
        return str(url.host)
    port = url.port or (1522 if protocol == "tcps" else 1521)
    dsn = f"{'tcps://' if protocol == 'tcps' else ''}{url.host}:{port}/{url.database}"
    if params:
        dsn += "?" + "&".join(f"{k}={v}" for k, v in params.items())
    return dsn


def _fetch_lobs_as_text(cursor: Any, metadata: Any) -> Any:
    # One round trip per fetched batch instead of one more per CLOB value (LOB.read()).
    if metadata.type_code is oracledb.DB_TYPE_CLOB:
        return cursor.var(oracledb.DB_TYPE_LONG, arraysize=cursor.arraysize)
    return None


class OracleConnector:
    """Opens sessions set up for the sink: thick mode once per process if asked, module and
    action for the DBA, call timeout, DDL lock timeout, current schema, character set check."""

    def __init__(
        self,
        dsn: str,
        *,
        user: str | None,
        password: str | None,
        settings: OracleSinkSettings | None = None,
        driver_connect: Callable[..., Any] | None = None,
        init_client: Callable[..., None] | None = None,
    ) -> None:
        self.dsn, self._user, self._password = dsn, user, password
        self.settings = settings or OracleSinkSettings()
        self._connect = driver_connect
        self._init_client = init_client

    def kwargs(self) -> dict[str, Any]:
        """``oracledb.connect`` arguments (with secrets: never log them)."""
        s = self.settings
        out: dict[str, Any] = {"user": self._user, "password": self._password, "dsn": self.dsn}
        if not s.thick:  # thick mode reads these from init_oracle_client / sqlnet.ora
            if s.config_dir:
                out["config_dir"] = s.config_dir
            if s.wallet_password is not None:
                out["wallet_password"] = s.wallet_password.get_secret_value()
            if s.expire_time_minutes:
                out["expire_time"] = s.expire_time_minutes
        if s.wallet_location:
            out["wallet_location"] = s.wallet_location
        return out

    def _ensure_client(self) -> None:
        if not self.settings.thick:
            return
        with _client_lock:
            if oracledb.is_thin_mode():
                init = self._init_client or oracledb.init_oracle_client
                init(lib_dir=self.settings.lib_dir, config_dir=self.settings.config_dir)

    def open(self, action: str) -> tuple[Any, SessionFacts]:
        """A new session, set up; raises ``oracledb.Error`` or :class:`OracleSetupError`."""
        self._ensure_client()
        conn = (self._connect or oracledb.connect)(**self.kwargs())
        try:
            facts = self._set_up(conn, action)
        except BaseException:
            conn.close()
            raise
        return conn, facts

    def _set_up(self, conn: Any, action: str) -> SessionFacts:
        s = self.settings
        conn.module, conn.action = "gruponos", action
        conn.call_timeout = int(s.call_timeout_seconds * 1000)
        conn.outputtypehandler = _fetch_lobs_as_text
        statements = [f"ALTER SESSION SET DDL_LOCK_TIMEOUT = {int(s.ddl_lock_timeout_seconds)}"]
        if s.current_schema:  # validated as an unquoted identifier (oracle_config)
            statements.append(f'ALTER SESSION SET CURRENT_SCHEMA = "{s.current_schema}"')
        block = " ".join(f"EXECUTE IMMEDIATE '{sql}';" for sql in statements)
        with conn.cursor() as cur:
            cur.execute(f"BEGIN {block} END;")
            cur.execute(FACTS_SQL)
            row = cur.fetchone()
        facts = SessionFacts(str(row[0]), int(row[1])) if row else SessionFacts()
        if facts.charset != UTF8:
            message = (
                f"the database character set is {facts.charset}, not {UTF8}: text it cannot "
                "hold would be silently replaced"
            )
            if s.non_utf8_charset == "refuse":
                raise OracleSetupError(
                    message + " (set GRUPONOS_SINK__ORACLE__NON_UTF8_CHARSET=warn to accept)"
                )
            log.warning("oracle.non_utf8_charset", charset=facts.charset, action=action)
        return facts
