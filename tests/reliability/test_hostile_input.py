"""Hostile answers from the API, served by a tiny WMS of the test's own (stdlib http.server on
127.0.0.1, port 0): malformed and truncated JSON, invalid UTF-8, wrong types, missing required
fields, huge strings and ids, deep nesting, records that are not objects, describe bodies of the
wrong shape, a foreign ``next_page``, and field names full of SQL metacharacters.

Promise: a quarantine row (with the reason) or a clear typed error, never a traceback, never SQL
built from data: a canary table survives, every column name is a valid identifier, hostile values
round-trip byte for byte, and every record sent is either loaded or quarantined."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import pytest

from reliability.rig import COLLECTOR, WMS_PASSWORD, WMS_USER, Outcome, cli, connect

pytestmark = pytest.mark.reliability

TS = "2024-05-01T10:00:00.000000-03:00"
INJECTION = "'); DROP TABLE CANARY; --"
HOSTILE_NAMES = [
    'name"; DROP TABLE CANARY; --',
    "x'); DELETE FROM GNOS_STATE; --",
    "select",
    "GNOS_DELETED_AT",
    "a b",
    "ñandú",
    "x" * 200,
    "1st",
]
DESCRIBE: dict[str, Any] = {
    "parameters": ["id", "mod_ts"],
    "fields": {
        "id": {"type": "pk", "required": True},
        "mod_ts": {"type": "datetime", "required": True},
        "name": {"type": "varchar", "max_length": 10},
        "qty": {"type": "decimal"},
        "rush_flg": {"type": "boolean"},
    },
}
IDENTIFIER = re.compile(r"^[A-Z][A-Z0-9_$#]*$")


def good(rid: int, **values: Any) -> dict[str, Any]:
    return {"id": rid, "mod_ts": TS, "name": f"n{rid}", "qty": "1.50", "rush_flg": True, **values}


def page(*records: Any) -> bytes:
    return json.dumps({"results": list(records), "next_page": None}).encode()


@dataclass
class Case:
    list_body: bytes
    describe: bytes = json.dumps(DESCRIBE).encode()
    records: int = 0  # objects sent that must each be loaded or quarantined (0: no accounting)


DEEP = b'{"results": [{"id": 1, "mod_ts": "' + TS.encode() + b'", "name": ' + b"[" * 100_000
CASES: dict[str, Case] = {
    "malformed_json": Case(b'{"results": [{"id": 1,, "mod_ts": }]'),
    "truncated_json": Case(page(good(1), good(2))[:-17]),
    "not_json_html": Case(b"<html><body>Gateway says hello</body></html>"),
    "invalid_utf8": Case(
        b'{"results": [{"id": 1, "mod_ts": "' + TS.encode() + b'", "name": "\xff\xfe\xc3"}], '
        b'"next_page": null}'
    ),
    "nan_and_infinity": Case(
        b'{"results": [{"id": 1, "mod_ts": "' + TS.encode() + b'", "qty": NaN, "name": Infinity}],'
        b' "next_page": null}'
    ),
    "deep_nesting": Case(DEEP),
    "results_not_a_list": Case(b'{"results": {"id": 1}, "next_page": null}'),
    "body_is_a_list": Case(b"[1, 2, 3]"),
    "records_not_objects": Case(page(1, "x", None, [1, 2], good(9)), records=0),
    "wrong_types": Case(
        page(
            good(1),
            good(2, qty="lots"),
            good(3, rush_flg="maybe"),
            good(4, mod_ts=12345),
            good(5, mod_ts="yesterday"),
            {**good(6), "id": "abc"},
            good(7, name={"nested": [1, 2]}),
            good(8, qty=[1]),
            good(9),
        ),
        records=9,
    ),
    "missing_required": Case(
        page(good(1), {"mod_ts": TS, "name": "no id"}, {"id": 3, "name": "no mod_ts"}, good(4)),
        records=4,
    ),
    "huge_values": Case(
        page(good(1, name="x" * 5_000_000), good(2, qty="9" * 5000), good(2**70), good(3)),
        records=4,
    ),
    "hostile_values": Case(
        page(good(1, name=INJECTION), good(2, name="\u0000nul\u202eRTL\U0001f4a5"), good(3)),
        records=3,
    ),
    "describe_wrong_shape": Case(page(good(1)), describe=b'{"fields": ["id", "mod_ts"]}'),
    "describe_not_json": Case(page(good(1)), describe=b"{'fields': None}"),
    "describe_without_pk": Case(
        page(good(1)), describe=json.dumps({"fields": {"name": {"type": "varchar"}}}).encode()
    ),
    "foreign_next_page": Case(
        json.dumps({"results": [good(1)], "next_page": "http://198.51.100.7/steal?x=1"}).encode()
    ),
    "hostile_field_names": Case(
        page(*(good(i, **dict.fromkeys(HOSTILE_NAMES, INJECTION)) for i in (1, 2))),
        describe=json.dumps(
            {
                "parameters": ["id", "mod_ts"],
                "fields": {**DESCRIBE["fields"], **{n: {"type": "varchar"} for n in HOSTILE_NAMES}},
            }
        ).encode(),
        records=2,
    ),
    "hostile_unknown_fields": Case(
        page(*(good(i, **dict.fromkeys(HOSTILE_NAMES, INJECTION)) for i in (1, 2))), records=2
    ),
}


class _Wms(BaseHTTPRequestHandler):
    case: Case

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path.endswith("/entity"):
            body = json.dumps({"weird": f"http://{self.headers['Host']}{path}/weird/"}).encode()
        elif path.endswith("/weird/describe"):
            body = self.case.describe
        elif path.endswith("/weird"):
            body = self.case.list_body
        else:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def hostile_wms() -> Iterator[Callable[[Case], str]]:
    servers: list[ThreadingHTTPServer] = []

    def serve(case: Case) -> str:
        handler = type("Handler", (_Wms,), {"case": case})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/env"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def _env(base_url: str, target: str) -> dict[str, str]:
    return {
        "GRUPONOS_WMS__BASE_URL": base_url,
        "GRUPONOS_WMS__USERNAME": WMS_USER,
        "GRUPONOS_WMS__PASSWORD": WMS_PASSWORD,
        "GRUPONOS_WMS__MAX_ATTEMPTS": "2",
        "GRUPONOS_ENTITIES": "weird",
        "GRUPONOS_SINK__URL": target,
        "GRUPONOS_LOG__FORMAT": "json",
    }


def _plant_canary(url: str) -> None:
    with connect(url) as conn:
        conn.execute('CREATE TABLE "CANARY" ("V" TEXT)')
        conn.execute("INSERT INTO \"CANARY\" VALUES ('alive')")
        if isinstance(conn, sqlite3.Connection):
            conn.commit()


def _columns(url: str, table: str) -> list[str]:
    with connect(url) as conn:
        if isinstance(conn, sqlite3.Connection):
            return [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")').fetchall()]
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = %s AND table_schema = current_schema()",
            (table,),
        ).fetchall()
        return [r[0] for r in rows]


def _count(url: str, sql: str) -> int:
    with connect(url) as conn:
        try:
            return int(conn.execute(sql).fetchone()[0])
        except (sqlite3.OperationalError, psycopg.errors.UndefinedTable):
            return 0


def _check(name: str, case: Case, outcome: Outcome, url: str) -> None:
    scenario = COLLECTOR.scenario("hostile_input")
    scenario.runs += 1
    assert outcome.traceback is None, f"{name}: traceback\n{outcome.traceback}"
    assert "Traceback" not in outcome.output, outcome.output[-3000:]
    assert outcome.code in (0, 1, 3), outcome.output[-3000:]
    if outcome.code == 1:
        scenario.failed_runs += 1
        if outcome.stdout.strip():
            errors = [e["error"] for e in outcome.json()["entities"] if e["error"]]
            assert errors, outcome.stdout
            code = re.match(r"^\[([a-z_]+\.[a-z_]+)\] \S", errors[0])
            assert code, errors
            scenario.error_codes[code.group(1)] += 1
        else:
            assert outcome.error_code() is not None, outcome.stderr[-3000:]
            scenario.error_codes[str(outcome.error_code())] += 1
    # never SQL built from data: the canary survives, identifiers are valid
    assert _count(url, 'SELECT COUNT(*) FROM "CANARY"') == 1
    for column in _columns(url, "WMS_WEIRD"):
        assert IDENTIFIER.match(column), column
    if case.records and outcome.code in (0, 3):
        loaded = _count(url, 'SELECT COUNT(*) FROM "WMS_WEIRD"')
        quarantined = _count(url, 'SELECT COUNT(*) FROM "GNOS_QUARANTINE"')
        scenario.records_checked += case.records
        scenario.losses += max(0, case.records - loaded - quarantined)
        assert loaded + quarantined >= case.records, (loaded, quarantined)
        if quarantined:
            scenario.error_codes["quarantined"] += quarantined


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_answer_sqlite(
    name: str, hostile_wms: Callable[[Case], str], sqlite_url: str
) -> None:
    case = CASES[name]
    _plant_canary(sqlite_url)
    outcome = cli(_env(hostile_wms(case), sqlite_url), "sync", "full", "--json", where=name)
    _check(name, case, outcome, sqlite_url)
    if name in ("hostile_values", "hostile_field_names", "hostile_unknown_fields"):
        _assert_round_trip(sqlite_url)


@pytest.mark.postgres
@pytest.mark.parametrize(
    "name", ["hostile_field_names", "hostile_unknown_fields", "hostile_values", "wrong_types"]
)
def test_hostile_answer_postgres(
    name: str, hostile_wms: Callable[[Case], str], pg_url: str
) -> None:
    case = CASES[name]
    _plant_canary(pg_url)
    outcome = cli(_env(hostile_wms(case), pg_url), "sync", "full", "--json", where=name)
    _check(name, case, outcome, pg_url)
    if name != "wrong_types":
        _assert_round_trip(pg_url)


def _assert_round_trip(url: str) -> None:
    """The injection string is stored as data, byte for byte (bound, not spliced into SQL): in a
    column, in GNOS_EXTRA, or in the quarantined payload (``name`` allows 10 characters)."""
    with connect(url) as conn:
        rows = conn.execute('SELECT * FROM "WMS_WEIRD"').fetchall()
        rows += conn.execute('SELECT "PAYLOAD", "REASON" FROM "GNOS_QUARANTINE"').fetchall()
    cells = [str(v) for row in rows for v in row if v is not None]
    assert any(INJECTION in c or json.dumps(INJECTION) in c for c in cells), cells[:20]
