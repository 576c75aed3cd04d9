"""Claims of scheduled fires (``GNOS_SCHEDULE_FIRES``) on SQLite and PostgreSQL: one winner per
(pipeline, fire time), also when sessions race for it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from returns.unsafe import unsafe_perform_io

from gruponos.adapters.sql.fires import FIRES_TABLE, SqlFireClaims
from support.sqlsink import BackendFactory, query

T0 = datetime(2026, 12, 3, 18, 0, tzinfo=UTC)


def claim(claims: SqlFireClaims, pipeline: str, at: datetime, owner: str) -> bool:
    return unsafe_perform_io(claims.claim(pipeline, at, owner).unwrap())


def test_the_first_claim_of_a_fire_wins_and_the_row_names_its_owner(
    open_backend: BackendFactory,
) -> None:
    one, two = open_backend(), open_backend()
    first, second = SqlFireClaims(one.db), SqlFireClaims(two.db)
    assert claim(first, "incremental", T0, "host-a:1")
    assert not claim(second, "incremental", T0, "host-b:2")
    assert not claim(first, "incremental", T0, "host-a:1")  # once, even for its owner
    # the same instant written in another zone is the same fire
    assert not claim(second, "incremental", T0.astimezone(ZoneInfo("America/Mexico_City")), "b")
    assert claim(second, "incremental", T0 + timedelta(seconds=1), "host-b:2")
    assert claim(second, "full", T0, "host-b:2")  # another pipeline
    rows = query(one, f'SELECT "PIPELINE", "OWNER" FROM "{FIRES_TABLE}" ORDER BY 1, 2')
    assert rows == [("full", "host-b:2"), ("incremental", "host-a:1"), ("incremental", "host-b:2")]


def test_sessions_racing_for_the_same_fires_have_one_winner_each(
    open_backend: BackendFactory,
) -> None:
    sessions = 4
    backends = [open_backend() for _ in range(sessions)]
    SqlFireClaims(backends[0].db).claim("warm-up", T0, "x")  # the table exists before the race
    fires = [T0 + timedelta(seconds=n) for n in range(10)]
    won: dict[datetime, list[str]] = {at: [] for at in fires}
    errors: list[BaseException] = []
    barrier = threading.Barrier(sessions)

    def race(index: int) -> None:
        claims = SqlFireClaims(backends[index].db)
        try:
            for at in fires:
                barrier.wait(timeout=30)
                if claim(claims, "incremental", at, f"replica-{index}"):
                    won[at].append(f"replica-{index}")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert all(len(winners) == 1 for winners in won.values()), won
    rows = query(
        backends[1], f'SELECT COUNT(*) FROM "{FIRES_TABLE}" WHERE "PIPELINE" = \'incremental\''
    )
    assert rows == [(len(fires),)]
