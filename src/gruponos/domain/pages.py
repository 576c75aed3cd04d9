"""Whole pages in compiled code: a page's records decoded and validated by msgspec in one call.

A source may hand a page's ``results`` array over as the JSON text it received
(:class:`JsonRecords`) instead of Python dicts. For such a page, a decoder generated from the
schema (:func:`compile_page_decoder`) checks every record's shape and value types in C (msgspec
typed decoding into structs: no dict per record, no string for the relations' ``url``), and a
generated converter builds the :class:`~gruponos.domain.records.NormalizedRecord` rows.

It accepts exactly what the normalizer's fast path accepts, and gives the same rows. Anything
else on the page (a record with an unknown or a missing field, a value of another type, a text too
long, a timestamp without an offset ...) makes it give up on the *whole page*:
:meth:`~gruponos.domain.normalize.RecordNormalizer.normalize_page` then normalizes it record by
record, whose plan has the final word and reports every problem. Property-tested: both roads
give equal outcomes for any page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, overload

import msgspec

from gruponos.domain.errors import RecordRejected
from gruponos.domain.naming import sql_identifier
from gruponos.domain.records import ID_COLUMN, MOD_TS_COLUMN, NormalizedRecord, NormalizeOptions
from gruponos.domain.schema import EntitySchema, FieldType, SourceField, relation_base
from gruponos.domain.values import to_date, to_json_text


class JsonRecords(Sequence[Mapping[str, Any]]):
    """A page's records as the JSON array text the source received, decoded on first use.

    ``raw`` is the array (``[...]``, checked to be valid JSON by the source). Reading an item,
    or its length before the normalizer has counted the records, decodes the whole array once;
    an item that is not an object is the normalizer's to reject.
    """

    __slots__ = ("_count", "_items", "raw")

    def __init__(self, raw: bytes, count: int | None = None) -> None:
        self.raw = raw
        self._count = count
        self._items: list[Any] | None = None

    @property
    def is_empty(self) -> bool:
        """No record, known without decoding."""
        return self._count == 0 if self._count is not None else not self.raw.strip(b"[] \t\r\n")

    def remember_count(self, count: int) -> None:
        """The number of records, as found by whoever decoded :attr:`raw`."""
        self._count = count

    def _decoded(self) -> list[Any]:
        if self._items is None:
            items = msgspec.json.decode(self.raw)
            if not isinstance(items, list):
                raise TypeError("JsonRecords holds a JSON array")
            self._items = items
            self._count = len(items)
        return self._items

    def __len__(self) -> int:
        return self._count if self._count is not None else len(self._decoded())

    @overload
    def __getitem__(self, index: int) -> Mapping[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Mapping[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> Mapping[str, Any] | Sequence[Mapping[str, Any]]:
        items: Any = self._decoded()[index]
        return items  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[Mapping[str, Any]]:
        return iter(self._decoded())

    def __repr__(self) -> str:
        return f"JsonRecords({len(self.raw)} bytes)"


class _Relation(msgspec.Struct, gc=False):
    """``{"id": 1, "key": "R", "url": ...}``: other members (``url``) are skipped, never built."""

    id: int | None = None
    key: str | None = None


class _GiveUp(Exception):  # noqa: N818 - control flow: the page goes record by record
    """A value the converter does not take as is."""


PageDecoder = Callable[[bytes], list[NormalizedRecord | RecordRejected] | None]


def _record_by_record(raw: bytes) -> None:
    """Always ``None``: the page goes record by record."""


def _field_type(field: SourceField, non_negative: bool) -> Any:
    """The msgspec type accepting exactly what the fast path accepts (converted values aside)."""
    tp: Any
    match field.type:
        case FieldType.RELATION:
            tp = _Relation | int
        case FieldType.VARCHAR:
            tp = (
                str
                if field.max_length is None
                else Annotated[str, msgspec.Meta(max_length=int(field.max_length))]
            )
        case FieldType.PK | FieldType.INTEGER:
            tp = Annotated[int, msgspec.Meta(ge=0)] if non_negative else int
        case FieldType.DECIMAL:
            tp = str | int  # Decimal(...) in the converter, as the fast path does
        case FieldType.DATETIME:
            tp = str  # fromisoformat + astimezone in the converter, as the fast path does
        case FieldType.BOOLEAN:
            tp = bool
        case FieldType.DATE | FieldType.JSON | FieldType.SET:  # pragma: no branch - exhaustive
            tp = Any
    return tp if field.mandatory else tp | None


def _convert_lines(i: int, field: SourceField, non_negative: bool) -> list[str]:
    """Statements setting ``x{i}`` (and ``y{i}`` for a relation's key) from ``s.f{i}``."""
    v = f"s.f{i}"
    match field.type:
        case FieldType.SET:
            return []
        case FieldType.RELATION:
            return [
                f"v = {v}",
                "if v is None or type(v) is int:",
                f"    x{i} = v; y{i} = None",
                "else:",
                f"    x{i} = v.id; y{i} = v.key or None",
            ]
        case FieldType.DECIMAL:
            sign = " or d < 0" if non_negative else ""
            return [
                f"v = {v}",
                "if v is None:",
                f"    x{i} = None",
                "else:",
                "    d = Decimal(v)",
                f"    if not d.is_finite(){sign}:",
                "        raise GIVE_UP",
                f"    x{i} = d",
            ]
        case FieldType.DATETIME:
            # 'Z' suffixes and naive values go to the plan (it decides how to read them).
            return [
                f"v = {v}",
                "if v is None:",
                f"    x{i} = None",
                "elif v[-1:] in 'zZ':",
                "    raise GIVE_UP",
                "else:",
                "    d = fromisoformat(v)",
                "    if d.tzinfo is None:",
                "        raise GIVE_UP",
                f"    x{i} = d.astimezone(UTC)",
            ]
        case FieldType.DATE | FieldType.JSON:
            return [f"v = {v}", f"x{i} = None if v is None else fn{i}(v)"]
        case FieldType.VARCHAR:
            return [f"x{i} = {v} or None"]  # empty text is NULL (data semantics)
        case _:
            return [f"x{i} = {v}"]


def compile_page_decoder(schema: EntitySchema, options: NormalizeOptions) -> PageDecoder:
    """A function ``raw JSON array -> outcomes`` for ``schema``, or ``None`` to go record by
    record. Field and column names are passed in as values, never pasted into generated code."""
    names = {f.name for f in schema.fields}
    members: list[tuple[Any, ...]] = []
    rename: dict[str, str] = {}
    env: dict[str, Any] = {
        "Decimal": Decimal,
        "UTC": UTC,
        "fromisoformat": datetime.fromisoformat,
        "NormalizedRecord": NormalizedRecord,
        "GIVE_UP": _GiveUp,
    }
    body = ["def convert(structs):", "  out = []", "  append = out.append", "  for s in structs:"]
    entries: list[str] = []
    id_name = mod_ts_name = ""
    for i, field in enumerate(schema.fields):
        non_negative = field.name.endswith(options.non_negative_suffixes)
        # Every field must be present (null allowed but in id and mod_ts), as in the fast path.
        members.append((f"f{i}", _field_type(field, non_negative)))
        rename[f"f{i}"] = field.name
        env[f"fn{i}"] = to_date if field.type is FieldType.DATE else to_json_text
        body += ["    " + line for line in _convert_lines(i, field, non_negative)]
        column = sql_identifier(field.name)
        if field.type is FieldType.SET:
            continue
        env[f"c{i}"] = column
        entries.append(f"c{i}: x{i}")
        if field.type is FieldType.RELATION:
            env[f"d{i}"] = sql_identifier(f"{relation_base(field.name)}_key")
            entries.append(f"d{i}: y{i}")
        if column == ID_COLUMN:
            id_name = f"x{i}"
        elif column == MOD_TS_COLUMN:
            mod_ts_name = f"x{i}"
    if not id_name or not mod_ts_name:  # pragma: no cover - build_schema requires both
        raise ValueError("the schema has no id or mod_ts field")
    if "url" not in names:  # the record's own URL: derivable, not loaded, tolerated
        members.append(("f_url", Any, None))
        rename["f_url"] = "url"
    body += [
        f"    if type({id_name}) is not int or {mod_ts_name} is None:",
        "      raise GIVE_UP",
        "    append(NormalizedRecord(" + id_name + ", " + mod_ts_name + ", {"
        f"{', '.join(entries)}}}, None))",
        "  return out",
    ]
    try:
        record_type = msgspec.defstruct(
            "record",
            members,
            rename=rename,
            kw_only=True,
            forbid_unknown_fields=True,
            gc=False,
        )
    except (ValueError, TypeError):
        # A field name msgspec cannot map (a quote, a backslash, a control character): such
        # an entity's pages go record by record, which takes any name.
        return _record_by_record
    decoder = msgspec.json.Decoder(list[record_type])  # type: ignore[valid-type]
    code = compile("\n".join(body), f"<page decoder {schema.entity!r}>", "exec")
    exec(code, env)  # noqa: S102 - generated from fixed text and indexes only
    convert: Callable[[list[Any]], list[NormalizedRecord | RecordRejected]] = env["convert"]

    def decode(raw: bytes) -> list[NormalizedRecord | RecordRejected] | None:
        try:
            return convert(decoder.decode(raw))
        except Exception:  # noqa: BLE001 - any doubt: the plan decides, record by record
            return None

    return decode
