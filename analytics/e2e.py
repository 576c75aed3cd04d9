"""End-to-end check of the dbt project (``nox -s analytics``), on the local PostgreSQL.

1. ``gruponos sync full`` from the simulator into a schema of its own, views on; ``gruponos dbt
   sources`` gives exactly the committed ``models/sources.yml``;
2. ``dbt build`` passes every model and test; ``dbt source freshness`` reports on every source;
3. a seeded inconsistency (an order line without its header) makes the relationships test fail;
4. the marts on a hand-made data set (a schema of its own, rows written through the sink) equal
   the numbers computed by hand below;
5. with the Oracle target, the profile renders and the models parse (nothing connects).

Usage: ``python analytics/e2e.py --dbt /path/to/dbt``. Any mismatch exits non-zero.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.sql import open_sql_backend
from gruponos.domain.batches import Batch
from gruponos.domain.records import NormalizedRecord
from gruponos.domain.schema import FieldType, SourceField, build_schema
from gruponos.simulator import SimulatorConfig, WmsSimulator

PROJECT = Path(__file__).resolve().parent
PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"  # trust auth
ENTITIES = {"order_hdr": 40, "order_dtl": 120, "allocation": 200}


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def check(condition: bool, what: str) -> None:
    if not condition:
        say(f"FAILED: {what}")
        raise SystemExit(1)
    say(f"ok: {what}")


@contextmanager
def pg_schema() -> Iterator[tuple[str, str]]:
    """A schema of its own (dropped afterwards) and a sink URL whose search_path is it."""
    name = f"dbt_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_DSN, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {name}")
    try:
        yield name, f"{PG_DSN}?options={quote(f'-csearch_path={name}')}"
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {name} CASCADE")


def execute(schema: str, statement: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f"SET search_path = {schema}")
        cur = conn.execute(statement)
        return list(cur.fetchall()) if cur.description else []


class Dbt:
    def __init__(self, exe: str, schema: str, url: str, target: Path) -> None:
        self.exe = exe
        self.target = target
        self.env = {
            **os.environ,  # noqa: TID251 - a driver script hands its environment on
            "GRUPONOS_SINK__URL": url,
            "GRUPONOS_DBT_SCHEMA": schema,
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [
            self.exe,
            *args,
            "--project-dir",
            str(PROJECT),
            "--profiles-dir",
            str(PROJECT),
            "--target-path",
            str(self.target),
        ]
        done = subprocess.run(  # noqa: S603 - argv built here
            command, env=self.env, text=True, capture_output=True, check=False
        )
        say(done.stdout[-3000:])
        return done

    def results(self, name: str = "run_results.json") -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = json.loads((self.target / name).read_text())["results"]
        return found


def synced_project(dbt_exe: str, work: Path) -> None:
    config = SimulatorConfig(records=40, entity_records=ENTITIES)
    with pg_schema() as (schema, url), WmsSimulator(config) as sim:
        env = {
            **os.environ,  # noqa: TID251 - a driver script hands its environment on
            "GRUPONOS_WMS__BASE_URL": sim.base_url,
            "GRUPONOS_WMS__USERNAME": config.username,
            "GRUPONOS_WMS__PASSWORD": config.password,
            "GRUPONOS_SINK__URL": url,
            "GRUPONOS_SINK__VIEWS": "true",
        }
        gruponos = [
            str(Path(sys.executable).parent / "gruponos"),
            "--env-file",
            "/nonexistent/.env",
        ]
        sync = subprocess.run(  # noqa: S603 - our own executable
            [*gruponos, "--progress", "never", "sync", "full"], env=env, check=False
        )
        check(sync.returncode == 0, "gruponos sync full into PostgreSQL with views on")
        sources = work / "sources.yml"
        made = subprocess.run(  # noqa: S603 - our own executable
            [*gruponos, "dbt", "sources", "-o", str(sources)], env=env, check=False
        )
        check(made.returncode == 0, "gruponos dbt sources")
        committed = (PROJECT / "models" / "sources.yml").read_text(encoding="utf-8")
        check(
            sources.read_text(encoding="utf-8") == committed,
            "models/sources.yml is what `gruponos dbt sources` writes",
        )
        dbt = Dbt(dbt_exe, schema, url, work / "target")
        built = dbt("build")
        results = dbt.results()
        check(
            built.returncode == 0 and all(r["status"] in ("success", "pass") for r in results),
            f"dbt build: {len(results)} models and tests pass",
        )
        fresh = dbt("source", "freshness")
        reported = {r["unique_id"].rsplit(".", 1)[1] for r in dbt.results("sources.json")}
        check(
            fresh.returncode in (0, 1) and reported == set(ENTITIES),
            "dbt source freshness reports on every source (the simulator's data is old: error)",
        )
        execute(
            schema,
            'INSERT INTO "WMS_ORDER_DTL" ("ID", "MOD_TS", "ORDER_ID")'
            " VALUES (999999, now(), 999999)",
        )
        tested = dbt("test", "--select", "stg_order_dtl")
        failed = {r["unique_id"] for r in dbt.results() if r["status"] == "fail"}
        check(
            tested.returncode != 0
            and len(failed) == 1
            and "relationships_stg_order_dtl_order_id" in next(iter(failed)),
            "an order line without its header fails the relationships test (only that one)",
        )


# -- the marts on a data set computed by hand ----------------------------------------------------

T1 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
T2 = datetime(2026, 3, 3, 15, 30, tzinfo=UTC)
SCHEMAS = {
    "order_hdr": [
        ("order_nbr", FieldType.VARCHAR),
        ("status_id", FieldType.INTEGER),
        ("facility_id", FieldType.RELATION),
        ("company_id", FieldType.RELATION),
        ("order_type_id", FieldType.RELATION),
        ("cust_name", FieldType.VARCHAR),
        ("ord_date", FieldType.DATE),
        ("create_ts", FieldType.DATETIME),
    ],
    "order_dtl": [
        ("order_id", FieldType.RELATION),
        ("seq_nbr", FieldType.INTEGER),
        ("item_id", FieldType.RELATION),
        ("status_id", FieldType.INTEGER),
        ("ord_qty", FieldType.DECIMAL),
        ("create_ts", FieldType.DATETIME),
    ],
    "allocation": [
        ("order_dtl_id", FieldType.RELATION),
        ("status_id", FieldType.INTEGER),
        ("alloc_qty", FieldType.DECIMAL),
        ("packed_qty", FieldType.DECIMAL),
        ("type_id", FieldType.RELATION),
        ("wave_id", FieldType.RELATION),
        ("create_ts", FieldType.DATETIME),
    ],
}
# Two orders in two facilities; order 1 has lines 11 (10 ordered, 4 + 6 allocated: closed) and
# 12 (5 ordered, 2 allocated: open); order 2 has line 21 (8 ordered, none allocated: open) and
# line 22 (3 ordered, cancelled: not open); allocation 104 is soft-deleted (ignored).
HDR = [
    {"ID": 1, "ORDER_NBR": "SO1", "STATUS_ID": 10, "FACILITY_KEY": "FAC1", "CREATE_TS": T1},
    {"ID": 2, "ORDER_NBR": "SO2", "STATUS_ID": 10, "FACILITY_KEY": "FAC2", "CREATE_TS": T1},
]
DTL = [
    {"ID": 11, "ORDER_ID": 1, "SEQ_NBR": 1, "STATUS_ID": 20, "ORD_QTY": Decimal(10)},
    {"ID": 12, "ORDER_ID": 1, "SEQ_NBR": 2, "STATUS_ID": 20, "ORD_QTY": Decimal(5)},
    {"ID": 21, "ORDER_ID": 2, "SEQ_NBR": 1, "STATUS_ID": 0, "ORD_QTY": Decimal(8)},
    {"ID": 22, "ORDER_ID": 2, "SEQ_NBR": 2, "STATUS_ID": 99, "ORD_QTY": Decimal(3)},
]
ALLOC = [
    {"ID": 101, "ORDER_DTL_ID": 11, "STATUS_ID": 10, "ALLOC_QTY": Decimal(4), "CREATE_TS": T1},
    {"ID": 102, "ORDER_DTL_ID": 11, "STATUS_ID": 10, "ALLOC_QTY": Decimal(6), "CREATE_TS": T2},
    {"ID": 103, "ORDER_DTL_ID": 12, "STATUS_ID": 90, "ALLOC_QTY": Decimal(2), "CREATE_TS": T2},
    {"ID": 104, "ORDER_DTL_ID": 21, "STATUS_ID": 10, "ALLOC_QTY": Decimal(8), "CREATE_TS": T2},
]
FULFILMENT = {  # order_dtl_id: (ordered, allocated, unallocated, allocations, is_open)
    11: (10, 10, 0, 2, 0),
    12: (5, 2, 3, 1, 1),
    21: (8, 0, 8, 0, 1),
    22: (3, 0, 3, 0, 0),
}
ACTIVITY = {  # (facility, day): (allocations, orders, allocated qty)
    ("FAC1", "2026-03-02"): (1, 1, 4),
    ("FAC1", "2026-03-03"): (2, 1, 8),
}


def seeded_marts(dbt_exe: str, work: Path) -> None:
    with pg_schema() as (schema, url):
        backend = unsafe_perform_io(open_sql_backend(url).unwrap())
        backend.sink.keep_views = True
        for entity, rows in (("order_hdr", HDR), ("order_dtl", DTL), ("allocation", ALLOC)):
            fields = [SourceField("id", FieldType.PK), SourceField("mod_ts", FieldType.DATETIME)]
            fields += [SourceField(n, t) for n, t in SCHEMAS[entity]]
            unsafe_perform_io(backend.sink.prepare(build_schema(entity, fields).unwrap()).unwrap())
            records = tuple(
                NormalizedRecord(row["ID"], T1, {"MOD_TS": T1, **row}, None) for row in rows
            )
            unsafe_perform_io(backend.sink.write(Batch(entity, "seed", records)).unwrap())
        backend.close()
        execute(schema, 'UPDATE "WMS_ALLOCATION" SET "GNOS_DELETED_AT" = now() WHERE "ID" = 104')
        dbt = Dbt(dbt_exe, schema, url, work / "target-seeded")
        built = dbt("build")
        check(built.returncode == 0, "dbt build on the hand-made data set")
        got = {
            r[0]: tuple(int(v) for v in r[1:])
            for r in execute(
                schema,
                "select order_dtl_id, ordered_qty, allocated_qty, unallocated_qty, allocations,"
                " is_open from order_fulfilment",
            )
        }
        check(got == FULFILMENT, f"order_fulfilment equals the hand-computed lines: {got}")
        ages = execute(schema, "select distinct age_days from order_fulfilment")
        expected_age = (datetime.now(UTC).date() - T1.date()).days
        check(ages == [(expected_age,)], f"age_days is {expected_age} for every line: {ages}")
        activity = {
            (r[0], r[1].date().isoformat()): tuple(int(v) for v in r[2:5])
            for r in execute(
                schema,
                "select facility_key, activity_date, allocations, orders, allocated_qty"
                " from allocation_activity",
            )
        }
        check(activity == ACTIVITY, f"allocation_activity equals the hand count: {activity}")


def oracle_profile_parses(dbt_exe: str, work: Path) -> None:
    """``dbt parse`` with the Oracle target: the profile renders from an Oracle sink URL and the
    models parse with dbt-oracle (nothing connects: there is no Oracle server here)."""
    env = {
        **os.environ,  # noqa: TID251 - a driver script hands its environment on
        "GRUPONOS_DBT_TARGET": "oracle",
        "GRUPONOS_SINK__URL": "oracle://gruponos@oracle-host:1521/ANALYTICS",
        "GRUPONOS_SINK__PASSWORD": "not-a-real-password",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    command = [dbt_exe, "parse", "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT)]
    command += ["--target-path", str(work / "target-oracle")]
    done = subprocess.run(  # noqa: S603 - argv built here
        command, env=env, text=True, capture_output=True, check=False
    )
    say(done.stdout[-1500:])
    check(
        done.returncode == 0 and "Registered adapter: oracle" in done.stdout,
        "the Oracle target's profile and models parse (dbt-oracle; never run against Oracle)",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dbt", required=True, help="the dbt executable")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gruponos-dbt-") as tmp:
        synced_project(args.dbt, Path(tmp))
        seeded_marts(args.dbt, Path(tmp))
        oracle_profile_parses(args.dbt, Path(tmp))
    say("analytics: every check passed")


if __name__ == "__main__":
    main()
