"""Settings of the Oracle sink beyond its URL (``GRUPONOS_SINK__ORACLE__*``).

Kept free of ``oracledb`` so that reading the configuration never loads the driver. See
docs/sinks.md, "Connecting to Oracle", for an example of every connection form.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

_SCHEMA = re.compile(r"^[A-Z][A-Z0-9_$#]{0,127}$")


class OracleSinkSettings(BaseModel):
    """How gruponos connects to Oracle Database and what it sets on each session."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    thick: bool = Field(
        default=False,
        description="use Oracle Client libraries (thick mode), e.g. for Native Network Encryption",
    )
    lib_dir: str | None = Field(
        None, description="Instant Client directory for thick mode (default: the system's)"
    )
    config_dir: str | None = Field(
        None, description="directory of tnsnames.ora (TNS aliases; Autonomous Database wallets)"
    )
    wallet_location: str | None = Field(
        None, description="directory of the wallet (ewallet.pem in thin mode, cwallet.sso thick)"
    )
    wallet_password: SecretStr | None = Field(
        None, description="password of an encrypted wallet (not the database password)"
    )
    current_schema: str | None = Field(
        None,
        description="write into this schema instead of the login user's (ALTER SESSION SET "
        "CURRENT_SCHEMA); the grants are listed in docs/sinks.md",
    )
    non_utf8_charset: Literal["refuse", "warn"] = Field(
        "refuse",
        description="a database character set other than AL32UTF8 replaces characters it "
        "cannot hold: refuse to connect, or only warn",
    )
    ddl_lock_timeout_seconds: int = Field(
        60, ge=0, le=1_000_000, description="how long DDL waits for other sessions' locks"
    )
    call_timeout_seconds: float = Field(
        600.0, ge=0, le=86_400, description="longest single database round trip (0: no limit)"
    )
    expire_time_minutes: int = Field(
        2, ge=0, le=1440, description="TCP keepalive probe interval (0: off)"
    )

    @field_validator("current_schema")
    @classmethod
    def _schema_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        upper = value.upper()
        if not _SCHEMA.match(upper):
            raise ValueError("must be an unquoted Oracle identifier (letters, digits, _ $ #)")
        return upper
