"""Map names from the WMS API to SQL identifiers that are valid unquoted in Oracle.

Names that come from the API (entity and field names) never reach SQL text as they are: every name
is mapped here, deterministically, to an upper-case identifier that

- starts with a letter and holds only ``A-Z``, ``0-9`` and ``_``;
- is at most :data:`MAX_IDENTIFIER_LENGTH` characters (Oracle allows 128 bytes; we stay at 120 so a
  prefix or suffix still fits);
- is not an Oracle (or PostgreSQL / SQLite) reserved word, nor starts with the metadata prefix.

A clean name (``order_dtl_id``) maps to its upper-case self (``ORDER_DTL_ID``). Anything else is
rewritten and, when rewriting lost information, given a short stable hash suffix so that two
different hostile names can never collide.

It also holds the one rule for lgfapi entity names (:func:`is_entity_name`) and the entities
synced by default (:data:`DEFAULT_ENTITIES`): settings, the Singer tap and the HTTP client use them.
"""

from __future__ import annotations

import hashlib
import re

MAX_IDENTIFIER_LENGTH = 120
#: The entities synced by default, in load order (parents before children).
DEFAULT_ENTITIES: tuple[str, ...] = ("order_hdr", "order_dtl", "allocation")
#: lgfapi entity names: lower-case identifiers (what the API lists, and what may reach a URL path).
ENTITY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,127}$")
#: Columns that gruponos adds to every table start with this prefix; source fields never do.
METADATA_PREFIX = "GNOS_"

_CLEAN = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_INVALID_CHARS = re.compile(r"[^A-Za-z0-9_]+")

# Oracle reserved words (V$RESERVED_WORDS where RESERVED='Y'), plus words PostgreSQL or SQLite
# reserve that are plausible field names. A column with one of these names gets a trailing "_".
RESERVED_WORDS: frozenset[str] = frozenset(
    [
        "ACCESS",
        "ADD",
        "ALL",
        "ALTER",
        "AND",
        "ANY",
        "AS",
        "ASC",
        "AUDIT",
        "BETWEEN",
        "BY",
        "CHAR",
        "CHECK",
        "CLUSTER",
        "COLUMN",
        "COMMENT",
        "COMPRESS",
        "CONNECT",
        "CREATE",
        "CURRENT",
        "DATE",
        "DECIMAL",
        "DEFAULT",
        "DELETE",
        "DESC",
        "DISTINCT",
        "DROP",
        "ELSE",
        "EXCLUSIVE",
        "EXISTS",
        "FILE",
        "FLOAT",
        "FOR",
        "FROM",
        "GRANT",
        "GROUP",
        "HAVING",
        "IDENTIFIED",
        "IMMEDIATE",
        "IN",
        "INCREMENT",
        "INDEX",
        "INITIAL",
        "INSERT",
        "INTEGER",
        "INTERSECT",
        "INTO",
        "IS",
        "LEVEL",
        "LIKE",
        "LOCK",
        "LONG",
        "MAXEXTENTS",
        "MINUS",
        "MLSLABEL",
        "MODE",
        "MODIFY",
        "NOAUDIT",
        "NOCOMPRESS",
        "NOT",
        "NOWAIT",
        "NULL",
        "NUMBER",
        "OF",
        "OFFLINE",
        "ON",
        "ONLINE",
        "OPTION",
        "OR",
        "ORDER",
        "PCTFREE",
        "PRIOR",
        "PUBLIC",
        "RAW",
        "RENAME",
        "RESOURCE",
        "REVOKE",
        "ROW",
        "ROWID",
        "ROWNUM",
        "ROWS",
        "SELECT",
        "SESSION",
        "SET",
        "SHARE",
        "SIZE",
        "SMALLINT",
        "START",
        "SUCCESSFUL",
        "SYNONYM",
        "SYSDATE",
        "TABLE",
        "THEN",
        "TO",
        "TRIGGER",
        "UID",
        "UNION",
        "UNIQUE",
        "UPDATE",
        "USER",
        "VALIDATE",
        "VALUES",
        "VARCHAR",
        "VARCHAR2",
        "VIEW",
        "WHENEVER",
        "WHERE",
        "WITH",
        "ANALYSE",
        "ANALYZE",
        "BOTH",
        "CASE",
        "CAST",
        "COLLATE",
        "CONSTRAINT",
        "CROSS",
        "CURRENT_DATE",
        "CURRENT_TIME",
        "CURRENT_TIMESTAMP",
        "CURRENT_USER",
        "DEFERRABLE",
        "DO",
        "END",
        "EXCEPT",
        "FALSE",
        "FETCH",
        "FOREIGN",
        "FULL",
        "INNER",
        "JOIN",
        "LATERAL",
        "LEADING",
        "LEFT",
        "LIMIT",
        "LOCALTIME",
        "LOCALTIMESTAMP",
        "NATURAL",
        "OFFSET",
        "ONLY",
        "OUTER",
        "PLACING",
        "PRIMARY",
        "REFERENCES",
        "RETURNING",
        "RIGHT",
        "SOME",
        "SYMMETRIC",
        "TRAILING",
        "TRUE",
        "USING",
        "VARIADIC",
        "WINDOW",
        "ABORT",
        "AUTOINCREMENT",
        "CONFLICT",
        "GLOB",
        "INDEXED",
        "ISNULL",
        "NOTNULL",
        "PRAGMA",
        "RAISE",
        "RECURSIVE",
        "REGEXP",
        "REPLACE",
        "TEMP",
        "TEMPORARY",
        "TRANSACTION",
        "VACUUM",
        "VIRTUAL",
    ]
)


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8].upper()


def is_clean(name: str) -> bool:
    """True when ``name`` maps to its own upper-case spelling."""
    upper = name.upper()
    return (
        bool(_CLEAN.match(name))
        and len(name) <= MAX_IDENTIFIER_LENGTH
        and upper not in RESERVED_WORDS
        and not upper.startswith(METADATA_PREFIX)
    )


def sql_identifier(name: str) -> str:
    """Return the SQL identifier for an API name; total, deterministic and injective in practice.

    >>> sql_identifier("order_dtl_id")
    'ORDER_DTL_ID'
    >>> sql_identifier("date")
    'DATE_'
    >>> sql_identifier('x"; drop table t; --').startswith("X_DROP_TABLE_T_")
    True
    """
    if is_clean(name):
        return name.upper()
    upper = name.upper()
    if _CLEAN.match(name) and upper in RESERVED_WORDS:
        return upper + "_"
    cleaned = _INVALID_CHARS.sub("_", name).strip("_").upper()
    if not cleaned or not cleaned[0].isalpha():
        cleaned = "F_" + cleaned
    if cleaned.startswith(METADATA_PREFIX):
        cleaned = "SRC_" + cleaned
    suffix = "_" + _digest(name)
    return cleaned[: MAX_IDENTIFIER_LENGTH - len(suffix)].rstrip("_") + suffix


def table_identifier(prefix: str, entity: str) -> str:
    """Table name for an entity: ``WMS_`` + the entity's identifier (``WMS_ORDER_HDR``)."""
    return sql_identifier(f"{prefix}{entity}")


def is_entity_name(name: str) -> bool:
    """True for an lgfapi entity name (``order_dtl``); anything else never reaches a URL or SQL.

    >>> is_entity_name("order_dtl"), is_entity_name("DROP TABLE")
    (True, False)
    """
    return bool(ENTITY_NAME.match(name))
