"""End-to-end check of the Meltano project against the WMS simulator (``nox -s meltano``).

Runs the simulator in this process (so it can change data between runs) and drives everything
else as subprocesses, the way an operator would:

1. ``meltano install``; ``meltano run incremental-sync-local-job`` -> SQLite equals the WMS;
2. data change; ``gruponos sync incremental`` with ``GRUPONOS_STATE__KIND=meltano`` continues from
   Meltano's bookmark (reads only the changes, within the overlap) -> SQLite equals the WMS;
3. data change; ``meltano run`` again continues from gruponos' bookmark -> equal again;
4. deletes; ``meltano run full-sync-local-job`` (overwrite) -> deleted rows are soft-deleted;
5. Singer interop (when the executables are given): ``tap-gruponos | target-jsonl`` and
   ``tap-rest-api-msdk | target-gruponos`` load complete data;
6. the quarantine stream: with invalid allocation records on the wire, ``tap-gruponos |
   target-postgres`` (MeltanoLabs) loads ``_gruponos_quarantine`` as a table of its own holding
   exactly the rejected records (PostgreSQL database ``test``, a schema of its own), and
   ``target-gruponos`` puts the same records in its quarantine table.

Every step prints its wall time; any mismatch exits non-zero.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import orjson
import psycopg
from psycopg import sql
from returns.unsafe import unsafe_perform_io

from gruponos.adapters.sql import open_sql_backend
from gruponos.simulator import SimulatorConfig, WmsSimulator
from gruponos.simulator.api import Response

PROJECT = Path(__file__).resolve().parent
STATE_ID = "dev:tap-gruponos-incremental-to-target-gruponos-local"
ENTITIES = ("order_hdr", "order_dtl", "allocation")
RECORDS = 600
T = TypeVar("T")
QUARANTINE = "_gruponos_quarantine"
EVERY = 50  # with invalid records on the wire: every 50th allocation (by id)
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "database": "test"}  # trust auth
PG_DSN = "postgresql://{user}@{host}:{port}/{database}".format(**PG)
_SUMMARY = re.compile(r'(\{"event": ?"tap\.summary".*\})\s*$', re.MULTILINE)


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


class CheckFailed(Exception):  # noqa: N818 - the script's one failure
    pass


def step(name: str, work: Callable[[], T]) -> T:
    started = time.perf_counter()
    result = work()
    say(f"[{time.perf_counter() - started:6.1f}s] {name}")
    return result


def run(argv: Sequence[str], env: dict[str, str], cwd: Path, stdin: Any = None) -> tuple[str, str]:
    """Run to completion; (stdout, stderr), or CheckFailed with the tail of both."""
    done = subprocess.run(  # noqa: S603 - argv built here
        list(argv), cwd=cwd, env=env, capture_output=True, text=True, check=False, stdin=stdin
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + "\n" + done.stderr[-8000:] + "\n")
        raise CheckFailed(f"{' '.join(argv[:3])} exited {done.returncode}")
    return done.stdout, done.stderr


def tap_read(output: str) -> dict[str, int]:
    """Records the tap read per stream, from its summary line in Meltano's log."""
    found = _SUMMARY.findall(output)
    if not found:
        raise CheckFailed("no tap.summary line in the meltano output")
    streams = json.loads(found[-1])["streams"]
    return {name: int(s["records"]) for name, s in streams.items()}


def compare(sim: WmsSimulator, db_url: str, prefix: str = "WMS_") -> None:
    backend = unsafe_perform_io(open_sql_backend(db_url, table_prefix=prefix).unwrap())
    try:
        for entity in ENTITIES:
            loaded = unsafe_perform_io(backend.sink.snapshot(entity).unwrap())
            truth = sim.truth(entity)
            if loaded != truth:
                missing = sorted(set(truth) - set(loaded))[:5]
                extra = sorted(set(loaded) - set(truth))[:5]
                stale = sorted(i for i in truth if i in loaded and loaded[i] != truth[i])[:5]
                raise CheckFailed(
                    f"{entity}: target != WMS (missing {missing}, extra {extra}, stale {stale})"
                )
    finally:
        backend.close()
    say(
        f"         target equals the WMS ({', '.join(f'{e}={len(sim.truth(e))}' for e in ENTITIES)})"
    )


def change(sim: WmsSimulator, touched: int, inserted: int) -> int:
    sim.advance_clock(60)
    for entity in ENTITIES:
        sim.touch(entity, touched)
        sim.insert(entity, inserted)
    return touched + inserted


def check_resumed(read: dict[str, int], changed: int, who: str) -> None:
    for entity in ENTITIES:
        count = read.get(entity, 0)
        if count < changed or count >= RECORDS:
            raise CheckFailed(
                f"{who} read {count} {entity} records: expected the {changed} changed ones "
                f"(plus the overlap), not a re-read from the beginning ({RECORDS}+)"
            )
    say(f"         {who} read only the changes: {read}")


def meltano_steps(sim: WmsSimulator, meltano: str, work: Path, env: dict[str, str]) -> None:
    db_url = f"sqlite:///{work / 'e2e.db'}"
    env = {
        **env,
        "PATH": f"{Path(meltano).parent}{os.pathsep}{env.get('PATH', '')}",
        "MELTANO_DATABASE_URI": f"sqlite:///{work / 'meltano.db'}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "TAP_GRUPONOS_BASE_URL": sim.base_url,
        "TAP_GRUPONOS_USERNAME": "wms_user",
        "TAP_GRUPONOS_PASSWORD": "wms_password",
        "TAP_GRUPONOS_PAGE_SIZE": "250",
        "TARGET_GRUPONOS_LOCAL_URL": db_url,
        "TARGET_GRUPONOS_LOCAL_FULL_URL": db_url,
        "TARGET_GRUPONOS_BATCH_SIZE": "400",
    }
    gruponos_env = {
        **env,
        "GRUPONOS_WMS__BASE_URL": sim.base_url,
        "GRUPONOS_WMS__USERNAME": "wms_user",
        "GRUPONOS_WMS__PASSWORD": "wms_password",
        "GRUPONOS_SINK__URL": db_url,
        "GRUPONOS_STATE__KIND": "meltano",
        "GRUPONOS_STATE__MELTANO_PROJECT_DIR": str(PROJECT),
        "GRUPONOS_STATE__MELTANO_STATE_ID": STATE_ID,
        "GRUPONOS_ENTITIES": ",".join(ENTITIES),
        "GRUPONOS_LOG__FORMAT": "json",
    }
    gruponos = str(Path(sys.executable).parent / "gruponos")
    step("meltano install", lambda: run([meltano, "install"], env, PROJECT))
    dumped, _ = step(
        "meltano invoke --dump=catalog (discovery and select rules)",
        lambda: run(
            [meltano, "invoke", "--dump=catalog", "tap-gruponos-incremental"], env, PROJECT
        ),
    )
    entry = next(s for s in json.loads(dumped)["streams"] if s["tap_stream_id"] == QUARANTINE)
    root = next(m["metadata"] for m in entry["metadata"] if not m["breadcrumb"])
    if root.get("selected") is not True:
        raise CheckFailed(f"Meltano does not select {QUARANTINE} by default: {root}")
    say(f"         {QUARANTINE} is in the catalog and selected")

    out = step(
        "meltano run incremental-sync-local-job (first: everything)",
        lambda: run([meltano, "run", "incremental-sync-local-job"], env, PROJECT),
    )
    first = tap_read(out[1])
    if any(first[e] != RECORDS for e in ENTITIES):
        raise CheckFailed(f"the first run should read every record: {first}")
    compare(sim, db_url)
    state, _ = run([meltano, "--log-level", "disabled", "state", "get", STATE_ID], env, PROJECT)
    say(f"         state {STATE_ID}: {state.strip()[:160]}...")

    changed = change(sim, touched=15, inserted=5)
    out = step(
        "gruponos sync incremental (state in Meltano)",
        lambda: run([gruponos, "sync", "incremental", "--json"], gruponos_env, PROJECT),
    )
    report = json.loads(out[0])
    read = {e["entity"]: int(e["read"]) for e in report["entities"]}
    check_resumed(read, changed, "gruponos sync")
    compare(sim, db_url)

    changed = change(sim, touched=10, inserted=7)
    out = step(
        "meltano run incremental-sync-local-job (after gruponos)",
        lambda: run([meltano, "run", "incremental-sync-local-job"], env, PROJECT),
    )
    check_resumed(tap_read(out[1]), changed, "meltano run")
    compare(sim, db_url)

    for entity in ENTITIES:
        sim.delete(entity, 4)
    change(sim, touched=3, inserted=2)
    step(
        "meltano run full-sync-local-job (overwrite: soft deletes)",
        lambda: run([meltano, "run", "full-sync-local-job"], env, PROJECT),
    )
    compare(sim, db_url)


def interop_steps(
    sim: WmsSimulator, work: Path, env: dict[str, str], jsonl: str | None, rest: str | None
) -> None:
    bin_dir = Path(sys.executable).parent
    if jsonl:
        (work / "tap.json").write_text(
            json.dumps(
                {
                    "base_url": sim.base_url,
                    "username": "wms_user",
                    "password": "wms_password",
                    "entities": list(ENTITIES),
                    "sync_mode": "full",
                }
            )
        )
        out_dir = work / "jsonl"
        out_dir.mkdir()
        (work / "jsonl.json").write_text(json.dumps({"destination_path": str(out_dir)}))

        def pipe_jsonl() -> None:
            tap = subprocess.Popen(  # noqa: S603
                [str(bin_dir / "tap-gruponos"), "--config", str(work / "tap.json")],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
            )
            run([jsonl, "--config", str(work / "jsonl.json")], env, work, stdin=tap.stdout)
            if tap.wait() != 0:
                raise CheckFailed("tap-gruponos failed")

        step("tap-gruponos | target-jsonl (third-party target)", pipe_jsonl)
        for entity in ENTITIES:
            files = list(out_dir.glob(f"{entity}*.jsonl"))
            ids = {json.loads(line)["id"] for f in files for line in f.read_text().splitlines()}
            if ids != set(sim.truth(entity)):
                raise CheckFailed(
                    f"target-jsonl {entity}: {len(ids)} ids, WMS has {len(sim.truth(entity))}"
                )
        say("         target-jsonl holds every record")
    if rest:
        path = sim.api_url.removeprefix(sim.origin)
        streams = [
            {
                "name": e,
                "path": f"{path}/entity/{e}/",
                "primary_keys": ["id"],
                "records_path": "$.results[*]",
                "num_inference_records": 2000,
                "params": {"page_mode": "sequenced", "page_size": "250"},
            }
            for e in ENTITIES
        ]
        (work / "rest.json").write_text(
            json.dumps(
                {
                    "api_url": sim.origin,
                    "auth_method": "basic",
                    "username": "wms_user",
                    "password": "wms_password",
                    "pagination_request_style": "jsonpath_paginator",
                    "pagination_response_style": "hateoas_body",
                    "next_page_token_path": "$.next_page",
                    "streams": streams,
                }
            )
        )
        db_url = f"sqlite:///{work / 'rest.db'}"
        (work / "target.json").write_text(
            json.dumps({"url": db_url, "table_prefix": "REST_", "max_reject_ratio": 0})
        )

        def pipe_rest() -> None:
            tap = subprocess.Popen(  # noqa: S603
                [rest, "--config", str(work / "rest.json")],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
            )
            run(
                [str(bin_dir / "target-gruponos"), "--config", str(work / "target.json")],
                env,
                work,
                stdin=tap.stdout,
            )
            if tap.wait() != 0:
                raise CheckFailed("tap-rest-api-msdk failed")

        step("tap-rest-api-msdk | target-gruponos (third-party tap)", pipe_rest)
        backend = unsafe_perform_io(open_sql_backend(db_url, table_prefix="REST_").unwrap())
        try:
            for entity in ENTITIES:
                loaded = unsafe_perform_io(backend.sink.snapshot(entity).unwrap())
                if set(loaded) != set(sim.truth(entity)):
                    raise CheckFailed(f"tap-rest-api-msdk -> {entity}: {len(loaded)} rows")
            quarantined = unsafe_perform_io(backend.sink.quarantined().unwrap())
            if quarantined:
                raise CheckFailed(f"quarantined rows: {quarantined[:2]}")
        finally:
            backend.close()
        say("         target-gruponos holds every record of the third-party tap")


@contextmanager
def invalid_allocations(sim: WmsSimulator) -> Iterator[set[int]]:
    """Allocation pages carry ``alloc_qty: "not a number"`` in every ``EVERY``-th record, as a
    WMS with bad rows would send them; yields the ids that are now invalid."""
    original = sim.api.handle

    def handle(path: str, query: str, origin: str) -> Response:
        response = original(path, query, origin)
        if response.status != 200 or path.strip("/") != "entity/allocation":
            return response
        body = orjson.loads(response.body)
        for record in body["results"]:
            if record["id"] % EVERY == 0:
                record["alloc_qty"] = "not a number"
        return replace(response, body=orjson.dumps(body))

    vars(sim.api)["handle"] = handle  # the server looks the method up on each request
    try:
        yield {i for i in sim.truth("allocation") if i % EVERY == 0}
    finally:
        del vars(sim.api)["handle"]


def quarantine_steps(
    sim: WmsSimulator, work: Path, env: dict[str, str], target_postgres: str
) -> None:
    """Rejected records reach a third-party target as a table, and target-gruponos' quarantine."""
    singer, bad = _tap_with_invalid_records(sim, work, env)
    _quarantine_into_postgres(singer, bad, set(sim.truth("allocation")) - bad, target_postgres, env)
    _quarantine_into_gruponos(singer, bad, env)


def _tap_with_invalid_records(
    sim: WmsSimulator, work: Path, env: dict[str, str]
) -> tuple[Path, set[int]]:
    """A full tap-gruponos run while some allocations are invalid: its output, the bad ids."""
    tap_config = work / "tap-quarantine.json"
    tap_config.write_text(
        json.dumps(
            {
                "base_url": sim.base_url,
                "username": "wms_user",
                "password": "wms_password",
                "entities": ["order_hdr", "allocation"],
                "sync_mode": "full",
            }
        )
    )
    singer = work / "quarantine.singer"
    tap = [str(Path(sys.executable).parent / "tap-gruponos"), "--config", str(tap_config)]

    def run_tap() -> None:
        with singer.open("w") as out:
            done = subprocess.run(  # noqa: S603 - our own executable
                tap, stdout=out, stderr=subprocess.PIPE, env=env, text=True, check=False
            )
        if done.returncode != 0:
            sys.stderr.write(done.stderr[-4000:])
            raise CheckFailed(f"tap-gruponos exited {done.returncode}")

    with invalid_allocations(sim) as bad:
        step(f"tap-gruponos with {len(bad)} invalid allocations on the wire", run_tap)
    return singer, bad


def _quarantine_into_postgres(
    singer: Path, bad: set[int], good: set[int], target_postgres: str, env: dict[str, str]
) -> None:
    work = singer.parent
    schema = f"gruponos_e2e_{uuid.uuid4().hex[:12]}"
    config = work / "target-postgres.json"
    config.write_text(json.dumps({**PG, "password": "", "default_target_schema": schema}))

    def load() -> None:
        with singer.open() as stdin:
            run([target_postgres, "--config", str(config)], env, work, stdin=stdin)

    try:
        step("target-postgres (MeltanoLabs) < the tap output", load)
        step("target-postgres again < the same output (a replay adds nothing)", load)
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            tables = {
                name
                for (name,) in conn.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                    (schema,),
                )
            }
            if QUARANTINE not in tables:
                raise CheckFailed(f"target-postgres made no {QUARANTINE} table: {sorted(tables)}")
            rows = conn.execute(
                sql.SQL("SELECT stream, id, reason, payload FROM {}.{}").format(
                    sql.Identifier(schema), sql.Identifier(QUARANTINE)
                )
            ).fetchall()
            table = sql.SQL("SELECT id FROM {}.allocation").format(sql.Identifier(schema))
            loaded = {int(i) for (i,) in conn.execute(table)}
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    ids = sorted(int(r[1]) for r in rows)
    if ids != sorted(bad) or any(r[0] != "allocation" or "alloc_qty" not in r[2] for r in rows):
        raise CheckFailed(f"{QUARANTINE} in PostgreSQL holds {ids}, expected {sorted(bad)}")
    if any(json.loads(r[3])["alloc_qty"] != "not a number" for r in rows):
        raise CheckFailed(f"{QUARANTINE} payloads are not the records the WMS sent")
    if loaded != good:
        raise CheckFailed(f"allocation in PostgreSQL: {len(loaded)} rows, {len(good)} valid")
    say(f"         {schema}.{QUARANTINE} held the {len(rows)} rejected records, once each")


def _quarantine_into_gruponos(singer: Path, bad: set[int], env: dict[str, str]) -> None:
    work = singer.parent
    db_url = f"sqlite:///{work / 'quarantine.db'}"
    config = work / "target-quarantine.json"
    config.write_text(json.dumps({"url": db_url}))
    target = [str(Path(sys.executable).parent / "target-gruponos"), "--config", str(config)]

    def load() -> None:
        with singer.open() as stdin:
            run(target, env, work, stdin=stdin)

    step("target-gruponos < the same tap output", load)
    backend = unsafe_perform_io(open_sql_backend(db_url).unwrap())
    try:
        quarantined = unsafe_perform_io(backend.sink.quarantined(limit=10_000).unwrap())
    finally:
        backend.close()
    if sorted(int(q["record_id"]) for q in quarantined) != sorted(bad):
        raise CheckFailed(f"target-gruponos quarantined {len(quarantined)} rows, not {len(bad)}")
    say(f"         target-gruponos' quarantine table holds the {len(bad)} rejected records")


def _absolute(path: str | None) -> str | None:
    return str(Path(path).resolve()) if path else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meltano", help="meltano executable (its own virtualenv)")
    parser.add_argument("--target-jsonl", help="target-jsonl executable (interop)")
    parser.add_argument("--tap-rest-api-msdk", help="tap-rest-api-msdk executable (interop)")
    parser.add_argument(
        "--target-postgres", help="MeltanoLabs target-postgres executable (quarantine stream)"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    config = SimulatorConfig(records=RECORDS, page_size_default=250)
    env = dict(os.environ)  # noqa: TID251 - a driver script hands its environment on
    try:
        with (
            tempfile.TemporaryDirectory(prefix="gruponos-meltano-") as tmp,
            WmsSimulator(config) as sim,
        ):
            work = Path(tmp)
            if args.meltano:
                meltano_steps(sim, str(Path(args.meltano).resolve()), work, env)
            interop_steps(
                sim, work, env, _absolute(args.target_jsonl), _absolute(args.tap_rest_api_msdk)
            )
            target_postgres = _absolute(args.target_postgres)
            if target_postgres:
                quarantine_steps(sim, work, env, target_postgres)
    except CheckFailed as exc:
        sys.stderr.write(f"FAILED: {exc}\n")
        return 1
    say(f"meltano e2e passed in {time.perf_counter() - started:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
