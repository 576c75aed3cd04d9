"""Oracle error numbers and what the sink does about each (compared as numbers, never as text).

A row refused by ``executemany(..., batcherrors=True)`` is not necessarily a bad value: another
session may have inserted the same new id first (MERGE is not atomic across sessions), or the
tablespace may be full. Only value errors are the record's fault and go to quarantine.
"""

from __future__ import annotations

import enum
from typing import Any

import oracledb

UNIQUE_VIOLATED = 1
RESOURCE_BUSY = 54
DEADLOCK = 60
NAME_IN_USE = 955
COLUMN_EXISTS = 1430
NO_QUOTA = 1950
TABLESPACE_FULL = 1653
TSTZ_IN_KEY = 2329

#: The value does not fit its column: NULL into NOT NULL, number precision, a too-long value
#: bound as LONG, not a number, value too large, a LOB too long for a VARCHAR2 column (22835);
#: 18xx are date and time conversion errors.
VALUE_ERRORS = frozenset({1400, 1438, 1461, 1722, 12899, 22835, *range(1800, 1900)})
#: DDL that another session already did: the name is taken / the column is there.
ALREADY_DONE = frozenset({NAME_IN_USE, COLUMN_EXISTS})


class BatchErrorAction(enum.Enum):
    QUARANTINE = "quarantine"  # the value does not fit: the row goes to quarantine
    RETRY = "retry"  # another session inserted the id first: the row now matches
    FAIL = "fail"  # anything else: roll the batch back and fail it


def ora_code(error: Any) -> int | None:
    """The ORA number of an ``oracledb`` exception or batch error object, if it has one."""
    if isinstance(error, oracledb.Error):
        error = error.args[0] if error.args else None
    code = getattr(error, "code", None)
    return code if isinstance(code, int) and code > 0 else None


def batch_error_action(code: int | None) -> BatchErrorAction:
    if code == UNIQUE_VIOLATED:
        return BatchErrorAction.RETRY
    if code in VALUE_ERRORS:
        return BatchErrorAction.QUARANTINE
    return BatchErrorAction.FAIL


def first_line(error: Any) -> str:
    """The error's message without the help URL python-oracledb appends."""
    text = str(getattr(error, "message", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__
