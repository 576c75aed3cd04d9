"""Throughput and memory of the WMS simulator (a script, not a test).

Serves ``--records`` allocation rows from a simulator in a child process (so client and server
each get a core) and reads them all with one sequential httpx client, sequenced mode, following
``next_page``. Also measures the simulator's memory per record with tracemalloc.

    .venv/bin/python benchmarks/simulator_bench.py --records 200000 --page-size 1000
"""

from __future__ import annotations

import argparse
import cProfile
import multiprocessing as mp
import pstats
import time
from multiprocessing.connection import Connection

import httpx
import orjson

from gruponos.simulator import SimulatorConfig, WmsSimulator
from gruponos.simulator.world import World

AUTH = ("wms_user", "wms_password")


def _serve(records: int, conn: Connection, profile: bool, read_ahead: bool) -> None:
    config = SimulatorConfig(
        records=records, entity_records={"order_hdr": 1000}, read_ahead=read_ahead
    )
    sim = WmsSimulator(config).start()
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    cpu_start = time.process_time()
    conn.send(sim.api_url)
    conn.recv()  # the parent says when it is done
    conn.send(time.process_time() - cpu_start)
    if profiler:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    sim.stop()


def read_all(api_url: str, entity: str, page_size: int) -> tuple[int, float, int, float]:
    """Records read, seconds, pages, client CPU seconds."""
    url: str | None = f"{api_url}/entity/{entity}/"
    params: dict[str, str | int] | None = {
        "page_mode": "sequenced",
        "ordering": "id",
        "page_size": page_size,
    }
    count = pages = 0
    started = time.perf_counter()
    cpu_started = time.process_time()
    with httpx.Client(auth=AUTH, timeout=60) as client:
        while url:
            response = client.get(url, params=params)
            params = None  # next_page carries every parameter
            if response.status_code == 404:
                break
            response.raise_for_status()
            body = orjson.loads(response.content)
            count += len(body["results"])
            pages += 1
            url = body["next_page"]
    return count, time.perf_counter() - started, pages, time.process_time() - cpu_started


def memory_per_record(records: int) -> tuple[float, float]:
    """Bytes per record of the simulator's state (all three entities, mod_ts index built),
    and the seconds it took to build."""
    started = time.perf_counter()
    world = World(SimulatorConfig(records=records))
    for store in world.stores.values():
        list(store.scan_mod(desc=False, after=None, lo=None, hi=0))  # builds the mod_ts index
    seconds = time.perf_counter() - started
    total = sum(store.nbytes() for store in world.stores.values())
    return total / (3 * records), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument(
        "--memory-records",
        type=int,
        default=1_000_000,
        help="rows per entity for the memory measurement (0 = skip)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the server")
    parser.add_argument(
        "--read-ahead",
        action="store_true",
        help="let the server render the next sequenced page ahead",
    )
    args = parser.parse_args()

    parent, child = mp.Pipe()
    server = mp.Process(target=_serve, args=(args.records, child, args.profile, args.read_ahead))
    server.start()
    api_url = parent.recv()
    try:
        count, seconds, pages, client_cpu = read_all(api_url, "allocation", args.page_size)
    finally:
        parent.send("done")
        server_cpu = parent.recv()
        server.join()
    print(
        f"read {count} allocation records in {pages} pages in {seconds:.2f} s: "
        f"{count / seconds:,.0f} records/s (page_size {args.page_size}, sequenced, "
        f"read-ahead {'on' if args.read_ahead else 'off'})"
    )
    print(
        f"server CPU {server_cpu:.2f} s: {count / server_cpu:,.0f} records per server CPU-second"
        f" (the ceiling with an infinitely fast client; wall figure is lower on a busy host)"
    )
    print(
        f"client CPU {client_cpu:.2f} s; records / (server + client CPU) = "
        f"{count / (server_cpu + client_cpu):,.0f}/s (what a sequential read reaches when "
        f"nothing else runs)"
    )
    if args.memory_records:
        per_record, seconds = memory_per_record(args.memory_records)
        print(
            f"memory: {per_record:.1f} bytes per record at {args.memory_records:,} records "
            f"per entity (state built in {seconds:.1f} s)"
        )


if __name__ == "__main__":
    main()
