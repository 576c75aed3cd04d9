"""The normalizer's fast path: one function generated per schema that converts a well-formed
record without a call per field, and gives up (``None``) on anything the plan must decide."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from gruponos.domain.naming import sql_identifier
from gruponos.domain.records import (
    ID_COLUMN,
    MOD_TS_COLUMN,
    NormalizedRecord,
    NormalizeOptions,
)
from gruponos.domain.schema import EntitySchema, FieldType, SourceField, relation_base
from gruponos.domain.values import to_date, to_json_text

# -- the fast path: one generated function per schema -------------------------------------------
#
# The generated source only ever contains names of the form ``k3``/``c3``/``fn3`` (an index) and
# fixed text: field and column names are passed in as values, never pasted into code, so a hostile
# describe cannot inject anything. The function returns ``None`` whenever the plan must decide.


def _fast_lines(i: int, field: SourceField, options: NormalizeOptions) -> list[str]:
    none = "return None" if field.mandatory else f"row[c{i}] = None"
    head = [f"v = raw[k{i}]", "if v is None:", f"    {none}"]
    non_negative = field.name.endswith(options.non_negative_suffixes)
    match field.type:
        case FieldType.SET:
            return []
        case FieldType.RELATION:
            none = "return None" if field.mandatory else f"row[c{i}] = row[d{i}] = None"
            return [
                f"v = raw[k{i}]",
                "if v is None:",
                f"    {none}",
                "elif type(v) is dict:",
                "    r = v.get('id'); s = v.get('key')",
                "    if (r is None or type(r) is int) and (s is None or type(s) is str):",
                f"        row[c{i}] = r; row[d{i}] = s or None",
                "    else:",
                "        return None",
                "elif type(v) is int:",
                f"    row[c{i}] = v; row[d{i}] = None",
                "else:",
                "    return None",
            ]
        case FieldType.VARCHAR:
            bound = "" if field.max_length is None else f" and len(v) <= {int(field.max_length)}"
            return [
                *head,
                f"elif type(v) is str{bound}:",
                f"    row[c{i}] = v or None",  # empty text is NULL (data semantics)
                "else:",
                "    return None",
            ]
        case FieldType.PK | FieldType.INTEGER:
            sign = " and v >= 0" if non_negative else ""
            return [
                *head,
                f"elif type(v) is int{sign}:",
                f"    row[c{i}] = v",
                "else:",
                "    return None",
            ]
        case FieldType.DECIMAL:
            sign = " or d < 0" if non_negative else ""
            return [
                *head,
                "elif type(v) is str or type(v) is int:",
                "    d = Decimal(v)",
                f"    if not d.is_finite(){sign}:",
                "        return None",
                f"    row[c{i}] = d",
                "else:",
                "    return None",
            ]
        case FieldType.DATETIME:
            # 'Z' suffixes and naive values go to the plan (it decides how to read them).
            return [
                *head,
                "elif type(v) is str and v[-1:] not in 'zZ':",
                "    d = fromisoformat(v)",
                "    if d.tzinfo is None:",
                "        return None",
                f"    row[c{i}] = d.astimezone(UTC)",
                "else:",
                "    return None",
            ]
        case FieldType.BOOLEAN:
            return [
                *head,
                "elif type(v) is bool:",
                f"    row[c{i}] = v",
                "else:",
                "    return None",
            ]
        case FieldType.DATE | FieldType.JSON:  # pragma: no branch - exhaustive over FieldType
            return [*head, "else:", f"    row[c{i}] = fn{i}(v)"]


FastPath = Callable[[Any], "NormalizedRecord | None"]


def compile_fast_path(schema: EntitySchema, options: NormalizeOptions) -> FastPath:
    names = frozenset(f.name for f in schema.fields)
    accepted = [names] if "url" in names else [names, names | {"url"}]
    env: dict[str, Any] = {
        "Decimal": Decimal,
        "UTC": UTC,
        "fromisoformat": datetime.fromisoformat,
        "NormalizedRecord": NormalizedRecord,
        "ACCEPTED": tuple(accepted),
        "ID": ID_COLUMN,
        "MOD_TS": MOD_TS_COLUMN,
    }
    body = [
        "def fast(raw):",
        "  if type(raw) is not dict:",
        "    return None",
        "  keys = raw.keys()",
        "  if not any(keys == a for a in ACCEPTED):",
        "    return None",
        "  row = {}",
        "  try:",
    ]
    for i, field in enumerate(schema.fields):
        env[f"k{i}"] = field.name
        env[f"c{i}"] = sql_identifier(field.name)
        env[f"d{i}"] = sql_identifier(f"{relation_base(field.name)}_key")
        env[f"fn{i}"] = to_date if field.type is FieldType.DATE else to_json_text
        body += ["    " + line for line in _fast_lines(i, field, options)]
    body += [
        "  except Exception:",  # the plan reproduces the failure with its reason
        "    return None",
        "  rid = row[ID]; ts = row[MOD_TS]",
        "  if type(rid) is not int or ts is None:",
        "    return None",
        "  return NormalizedRecord(rid, ts, row, None)",
    ]
    exec(compile("\n".join(body), f"<normalizer {schema.entity!r}>", "exec"), env)  # noqa: S102
    fast: FastPath = env["fast"]
    return fast
