"""A normalized record: typed values keyed by column, ready for any sink."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import Any, Final

import msgspec

from gruponos.domain.naming import sql_identifier
from gruponos.domain.schema import PRIMARY_KEY, REPLICATION_KEY

ID_COLUMN: Final = sql_identifier(PRIMARY_KEY)
MOD_TS_COLUMN: Final = sql_identifier(REPLICATION_KEY)

Value = int | Decimal | str | datetime | date | bool | None
Row = dict[str, Value]


class NormalizedRecord(msgspec.Struct, frozen=True, gc=False):
    """A record ready for the sink: ``values`` keyed by column, plus unknown ``extra`` fields.

    An immutable msgspec struct rather than a frozen dataclass: one is built per record, and a
    struct is built several times faster (it holds no reference back to itself, so the garbage
    collector need not track it).
    """

    id: int
    mod_ts: datetime
    values: Row
    extra: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class NormalizeOptions:
    """How to read values the API leaves ambiguous."""

    #: Time zone for timestamps without an offset; ``None`` rejects them (the API always sends one).
    default_tz: tzinfo | None = None
    #: Fields whose value must not be negative (quantities).
    non_negative_suffixes: tuple[str, ...] = ("_qty",)
