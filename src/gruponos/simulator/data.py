"""Deterministic record generator: a record is a pure function of (seed, entity, id, version).

Nothing is materialised: the store keeps only each id's version and timestamps, and a page is
rendered on demand. Immutable fields (relations, numbers, create_*) hash the id; mutable fields
(status, quantities, flags, mod_user, other timestamps) hash (id, version), so a touch changes them.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from gruponos.simulator.catalog import CHILD_SETS, PARENT_OF, EntitySpec, FieldKind, FieldSpec

_MASK = (1 << 64) - 1
_K = 0x9E3779B97F4A7C15
DAY_US = 86_400_000_000
MAX_AGE_US = 30 * DAY_US  # initial mod_ts is at most this long after create_ts
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# Offsets the records carry: mostly the facility's, some UTC, some others (all seen in the wild).
_OFFSETS = [-3] * 10 + [0] * 3 + [-5] * 2 + [1]
_EPOCH_IN = [_EPOCH.astimezone(timezone(timedelta(hours=h))) for h in _OFFSETS]


def mix64(x: int) -> int:
    """splitmix64 finaliser: a well-spread 64-bit hash of an integer."""
    z = (x + _K) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def to_us(moment: datetime) -> int:
    """Aware datetime -> microseconds since the epoch (exact, no float)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


_OFFSET_US = [h * 3_600_000_000 for h in _OFFSETS]
_SUFFIX = [_EPOCH_IN[i].isoformat()[-6:] for i in range(len(_OFFSETS))]
_DAYS: dict[int, str] = {}


def format_ts(us: int, offset_index: int) -> str:
    """ISO-8601 with microseconds in one of the record offsets; what ``datetime.isoformat``
    gives, about three times faster (it is on every record's hot path)."""
    days, rest = divmod(us + _OFFSET_US[offset_index], DAY_US)
    day = _DAYS.get(days)
    if day is None:
        day = date.fromordinal(_EPOCH_ORDINAL + days).isoformat()
        if len(_DAYS) < 100_000:
            _DAYS[days] = day
    seconds, micros = divmod(rest, 1_000_000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return f"{day}T{hours:02d}:{minutes:02d}:{seconds:02d}.{micros:06d}{_SUFFIX[offset_index]}"


class Row:
    """What a record is rendered from: identity, version hashes, timestamps and the URL root."""

    __slots__ = ("create_us", "hr", "hv", "id", "mod_us", "root", "tz", "ver")

    def __init__(
        self, ident: int, ver: int, hr: int, mod_us: int, create_us: int, root: str
    ) -> None:
        self.id = ident
        self.ver = ver
        self.hr = hr
        self.hv = mix64(hr + ver * _K)
        self.mod_us = mod_us
        self.create_us = create_us
        self.root = root
        self.tz = hr % len(_OFFSETS)


Gen = Callable[[Row], Any]
# name, generator, hash salt, mutable (hashes the version), pool of pre-rendered values or None
_Step = tuple[str, Gen, int, bool, tuple[Any, ...] | None]
Renderer = Callable[[Row], dict[str, Any]]
_POOL = 256
_POOL_SHIFT = 56  # the top 8 bits of a 64-bit product index a pool of 256

_USERS = ["wms_integ", "jsilva", "mcosta", "api_user", "oliveira.p", "SYSTEM"]
_NAMES = ["Mercado Sol", "Loja Azul Ltda", "Casa Verde", "Comercial Norte", "Distribuidora Sul"]
_CITIES = ["Sao Paulo", "Campinas", "Rio de Janeiro", "Belo Horizonte", "Curitiba", "Recife"]
_STATES = ["SP", "SP", "RJ", "MG", "PR", "PE"]
_STATUS = {
    "allocation": [0, 10, 90, 91, 99],
    "order_hdr": [0, 10, 20, 30, 40, 50, 90, 99],
    "order_dtl": [0, 10, 20, 30, 40, 90, 99],
}
_REL_KEYS = {
    "uom": ["UNITS", "CS", "PK", "EA"],
    "type": ["LPN Reapro", "Pick", "Replen"],
    "order_type": ["VENDA", "TRANSF", "DEVOL"],
}
_MUTABLE_KINDS = (FieldKind.INTEGER, FieldKind.DECIMAL, FieldKind.BOOLEAN, FieldKind.DATETIME)


def _salt(name: str) -> int:
    return mix64(zlib.crc32(name.encode()))


def relation_target(name: str) -> str:
    """``dest_facility_id`` -> ``facility``: the entity a relation's url points at."""
    base = name.removesuffix("_id")
    for known in ("facility", "company", "uom", "inventory"):
        if known in base:
            return known
    return base


def order_nbr(order_id: int) -> str:
    return f"SO{order_id:010d}"


class RecordFactory:
    """Renders the records of one entity. ``sizes`` are the initial row counts of every entity."""

    def __init__(self, spec: EntitySpec, seed: int, sizes: Mapping[str, int]) -> None:
        self.spec = spec
        self._seed_salt = mix64(seed * 1_000_003 + zlib.crc32(spec.name.encode()))
        self._sizes = sizes
        self._gens: dict[str, Gen] = {f.name: self._gen_for(f) for f in spec.fields}
        self._pooled = {f.name for f in spec.fields if _poolable(f)}
        self._plans: dict[str, dict[str, _Step]] = {}
        self._renderers: dict[tuple[str, tuple[str, ...] | None], Renderer] = {}

    def hash_of(self, ident: int) -> int:
        return mix64(self._seed_salt ^ ident)

    def row(self, ident: int, ver: int, mod_us: int, create_us: int, root: str) -> Row:
        return Row(ident, ver, self.hash_of(ident), mod_us, create_us, root)

    def record(self, row: Row, fields: Collection[str] | None = None) -> dict[str, Any]:
        key = (row.root, None if fields is None else tuple(fields))
        render = self._renderers.get(key)
        if render is None:
            if len(self._renderers) > 64:
                self._renderers.clear()
            render = self._compile(row.root, key[1])
            self._renderers[key] = render
        return render(row)

    def value(self, row: Row, name: str) -> Any:
        return self.record(row, (name,))[name]

    def _compile(self, root: str, fields: tuple[str, ...] | None) -> Renderer:
        """Generate ``render(row) -> dict`` for one URL root and field list.

        A field that depends only on its hash bits (and the root) is read from a pool of
        pre-rendered values with one multiply and an index; the rest call their generator. The
        generated function is a single dict display: about 3x faster than a loop over steps,
        which is what lets one process serve tens of thousands of records per second.
        """
        plan = self._plan(root)
        steps = plan.values() if fields is None else [plan[name] for name in fields]
        env: dict[str, Any] = {}
        items = []
        for i, (name, gen, salt, mutable, pool) in enumerate(steps):
            if pool is None:
                env[f"g{i}"] = gen
                items.append(f"{name!r}: g{i}(row)")
            else:
                env[f"p{i}"] = pool
                h = "hv" if mutable else "hr"
                items.append(f"{name!r}: p{i}[(({h} ^ {salt}) * {_K} & {_MASK}) >> {_POOL_SHIFT}]")
        source = (
            "def render(row):\n"
            "    hr = row.hr\n"
            "    hv = row.hv\n"
            f"    return {{{', '.join(items)}}}\n"
        )
        exec(compile(source, f"<render {self.spec.name}>", "exec"), env)  # noqa: S102 - our own source
        render: Renderer = env["render"]
        return render

    def _plan(self, root: str) -> dict[str, _Step]:
        """Render steps per field. A field that depends only on its hash bits (and the URL
        root) is drawn from a pool of pre-rendered values: one multiply and an index per field
        instead of a function call, which is what makes large pages cheap."""
        plan = self._plans.get(root)
        if plan is None:
            if len(self._plans) > 8:  # roots differ only by Host header; keep a handful
                self._plans.clear()
            plan = {}
            for spec in self.spec.fields:
                name, gen = spec.name, self._gens[spec.name]
                mutable = _is_mutable(spec)
                pool = None
                if name in self._pooled:
                    fakes = (Row(j, 0, mix64(j * _K + 1), 0, 0, root) for j in range(_POOL))
                    pool = tuple(gen(fake) for fake in fakes)
                plan[name] = (name, gen, _salt(name), mutable, pool)
            self._plans[root] = plan
        return plan

    # -- parents and children (referential consistency by arithmetic) --------------------------

    def parent_id(self, field: str, row: Row) -> int | None:
        parent = PARENT_OF[(self.spec.name, field)]
        n_parent, n_child = self._sizes[parent], self._sizes[self.spec.name]
        if n_parent == 0:
            return None
        if row.id <= n_child:  # initial rows spread evenly over the initial parents
            return ((row.id - 1) * n_parent) // n_child + 1
        return row.hr % n_parent + 1  # inserted rows reference some initial parent

    def seq_nbr(self, dtl_id: int, order_id: int) -> int:
        n_hdr, n_dtl = self._sizes["order_hdr"], self._sizes["order_dtl"]
        if dtl_id > n_dtl:
            return 100 + dtl_id % 900
        first = ((order_id - 1) * n_dtl + n_hdr - 1) // n_hdr + 1
        return dtl_id - first + 1

    def child_count(self, child: str, parent_id: int) -> int:
        n_parent, n_child = self._sizes[self.spec.name], self._sizes[child]
        if parent_id > n_parent or n_parent == 0:
            return 0
        return -(-parent_id * n_child // n_parent) - -(-(parent_id - 1) * n_child // n_parent)

    # -- field generators ---------------------------------------------------------------------

    def _gen_for(self, spec: FieldSpec) -> Gen:
        name, kind, salt = spec.name, spec.kind, _salt(spec.name)
        entity = self.spec.name
        mutable = _is_mutable(spec)

        def bits(row: Row) -> int:
            return (((row.hv if mutable else row.hr) ^ salt) * _K & _MASK) >> 20

        if kind is FieldKind.PK:
            return lambda r: r.id
        if kind is FieldKind.URL:
            return lambda r: f"{r.root}{entity}/{r.id}"
        if name == "mod_ts":
            return lambda r: format_ts(r.mod_us, r.tz)
        if name == "create_ts":
            return lambda r: format_ts(r.create_us, r.tz)
        if kind is FieldKind.RELATION:
            return self._relation(name, bits)
        if kind is FieldKind.SET:
            return self._set(name, bits)
        if kind is FieldKind.DATETIME:
            return _datetime_gen(bits)
        if kind is FieldKind.DATE:
            return lambda r: (
                None
                if bits(r) % 10 < 4
                else date.fromordinal(
                    _EPOCH_ORDINAL + r.create_us // DAY_US + bits(r) % 90
                ).isoformat()
            )
        if kind is FieldKind.BOOLEAN:
            return lambda r: bits(r) % 5 == 0
        if kind is FieldKind.DECIMAL:
            return _decimal_gen(name, bits)
        if kind is FieldKind.INTEGER:
            return self._integer(name, bits)
        return self._varchar(name, bits)

    def _integer(self, name: str, bits: Gen) -> Gen:
        if name == "status_id":
            pool = _STATUS.get(self.spec.name, [0, 10, 90])
            return lambda r: pool[bits(r) % len(pool)]
        if name == "seq_nbr" and self.spec.name == "order_dtl":
            return lambda r: self.seq_nbr(r.id, self.parent_id("order_id", r) or 0)
        if name.startswith("cust_number"):
            return lambda r: None if bits(r) % 10 < 6 else bits(r) % 10_000
        return lambda r: bits(r) % 100

    def _varchar(self, name: str, bits: Gen) -> Gen:
        if name == "order_nbr":
            return lambda r: order_nbr(r.id)
        if name in ("create_user", "mod_user", "pick_user"):
            return lambda r: _USERS[bits(r) % len(_USERS)]
        if name == "pick_locn_str":
            return lambda r: f"{'ABCDE'[bits(r) % 5]}E-{bits(r) % 3}-{bits(r) % 7}-{bits(r) % 11}"
        if name.endswith("_name"):
            return lambda r: _NAMES[bits(r) % len(_NAMES)]
        if name.endswith("_city"):
            return lambda r: _CITIES[bits(r) % len(_CITIES)]
        if name.endswith("_state"):
            return lambda r: _STATES[bits(r) % len(_STATES)]
        if name.endswith("_country"):
            return lambda r: "BR" if bits(r) % 10 else "AR"
        if name == "currency_code":
            return lambda _r: "BRL"
        prefix = "".join(part[:1] for part in name.split("_")).upper()
        return lambda r: "" if bits(r) % 10 < 6 else f"{prefix}{bits(r) % 100_000:05d}"

    def _relation(self, name: str, bits: Gen) -> Gen:
        target = relation_target(name)
        if (self.spec.name, name) in PARENT_OF:
            parent = PARENT_OF[(self.spec.name, name)]

            def parent_rel(r: Row) -> dict[str, Any] | None:
                pid = self.parent_id(name, r)
                if pid is None:
                    return None
                if parent == "order_hdr":
                    key = order_nbr(pid)
                else:  # order_dtl: "<order_nbr>,<seq_nbr>" as observed
                    order = ((pid - 1) * self._sizes["order_hdr"]) // self._sizes["order_dtl"] + 1
                    key = f"{order_nbr(order)},{self.seq_nbr(pid, order)}"
                return {"id": pid, "key": key, "url": f"{r.root}{parent}/{pid}"}

            return parent_rel
        if target in ("facility", "company"):
            count, prefix = (4, "FAC") if target == "facility" else (3, "COMP")
        else:
            count, prefix = 500, target[:3].upper()
        keys = _REL_KEYS.get(target)
        required = self.spec.is_required_relation(name)

        def rel(r: Row) -> dict[str, Any] | None:
            b = bits(r)
            if not required and b % 10 < 4:
                return None
            rid = (b >> 8) % count + 1
            if keys:
                key = keys[rid % len(keys)]
            else:  # facility and company codes are always there; other keys may be blank
                key = "" if b % 7 == 0 and count > 4 else f"{prefix}{rid}"
            url = "" if (b >> 4) % 5 == 0 else f"{r.root}{target}/{rid}"
            return {"id": rid, "key": key, "url": url}

        return rel

    def _set(self, name: str, bits: Gen) -> Gen:
        if (self.spec.name, name) in CHILD_SETS:
            child, via = CHILD_SETS[(self.spec.name, name)]

            def child_set(r: Row) -> dict[str, Any] | None:
                n = self.child_count(child, r.id)
                return {"result_count": n, "url": f"{r.root}{child}/?{via}={r.id}"} if n else None

            return child_set
        child = name.removesuffix("_set")
        via = f"{self.spec.name.removesuffix('_hdr')}_id"
        return lambda r: (
            None
            if bits(r) % 2
            else {"result_count": 1 + bits(r) % 3, "url": f"{r.root}{child}/?{via}={r.id}"}
        )


def _is_mutable(spec: FieldSpec) -> bool:
    return spec.kind in _MUTABLE_KINDS or spec.name == "mod_user"


def _poolable(spec: FieldSpec) -> bool:
    """Fields whose value depends only on their hash bits and the URL root."""
    if spec.kind is FieldKind.RELATION:
        return spec.name not in {field for _, field in PARENT_OF}
    if spec.kind in (FieldKind.BOOLEAN, FieldKind.DECIMAL):
        return True
    if spec.kind is FieldKind.INTEGER:
        return spec.name != "seq_nbr"
    return spec.kind is FieldKind.VARCHAR and spec.name != "order_nbr"


def _datetime_gen(bits: Gen) -> Gen:
    def gen(r: Row) -> str | None:
        b = bits(r)
        if b % 2:
            return None
        return format_ts(r.create_us + b % (r.mod_us - r.create_us + 1), r.tz)

    return gen


def _decimal_gen(name: str, bits: Gen) -> Gen:
    if "qty" in name:
        return lambda r: str(bits(r) % 1000)
    optional = name.startswith("cust_decimal")

    def gen(r: Row) -> str | None:
        b = bits(r)
        if optional and b % 10 < 6:
            return None
        return f"{b % 10_000}.{(b >> 14) % 100:02d}00"

    return gen
