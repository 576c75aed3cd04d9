"""Django-style filters, timestamps in filters, the 404 of an empty result, sequenced cursors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest

from gruponos.simulator import WmsSimulator
from gruponos.simulator.testing import decoded_cursor, error_body, read_all, running

Record = dict[str, Any]


@pytest.fixture(scope="module")
def sim_client() -> Iterator[tuple[WmsSimulator, httpx.Client, dict[str, list[Record]]]]:
    with running(records=240, entity_records={"order_hdr": 80}) as (sim, client):
        everything = {
            e: read_all(client, e, {"page_size": 1000})[0]
            for e in ("allocation", "order_hdr", "order_dtl")
        }
        yield sim, client, everything


def ids(records: list[Record]) -> list[int]:
    return sorted(r["id"] for r in records)


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


def rel_id(value: Record | None) -> int | None:
    return None if value is None else int(value["id"])


CASES: list[tuple[str, dict[str, str], Callable[[Record], bool]]] = [
    ("allocation", {"id": "5"}, lambda r: r["id"] == 5),
    ("allocation", {"id__gt": "200"}, lambda r: r["id"] > 200),
    ("allocation", {"id__gte": "200"}, lambda r: r["id"] >= 200),
    ("allocation", {"id__lt": "10"}, lambda r: r["id"] < 10),
    ("allocation", {"id__lte": "10"}, lambda r: r["id"] <= 10),
    ("allocation", {"id__in": "3,9,27"}, lambda r: r["id"] in (3, 9, 27)),
    ("allocation", {"id__range": "10,20"}, lambda r: 10 <= r["id"] <= 20),
    ("allocation", {"id__in!": "3,9,27"}, lambda r: r["id"] not in (3, 9, 27)),
    ("allocation", {"id!": "3"}, lambda r: r["id"] != 3),
    ("allocation", {"status_id": "99"}, lambda r: r["status_id"] == 99),
    ("allocation", {"status_id__in": "0,10"}, lambda r: r["status_id"] in (0, 10)),
    ("allocation", {"status_id!": "99"}, lambda r: r["status_id"] != 99),
    ("allocation", {"order_dtl_id": "17"}, lambda r: r["order_dtl_id"]["id"] == 17),
    ("allocation", {"order_dtl_id__in": "1,2,3"}, lambda r: r["order_dtl_id"]["id"] <= 3),
    ("allocation", {"wave_id__isnull": "true"}, lambda r: r["wave_id"] is None),
    ("allocation", {"wave_id__isnull": "false"}, lambda r: r["wave_id"] is not None),
    ("allocation", {"alloc_qty__gte": "500"}, lambda r: Decimal(r["alloc_qty"]) >= 500),
    ("allocation", {"is_picking_flg": "true"}, lambda r: r["is_picking_flg"] is True),
    ("allocation", {"pick_user": "jsilva"}, lambda r: r["pick_user"] == "jsilva"),
    ("order_hdr", {"facility_id": "2"}, lambda r: r["facility_id"]["id"] == 2),
    ("order_hdr", {"facility_id__code": "FAC1"}, lambda r: r["facility_id"]["key"] == "FAC1"),
    (
        "order_hdr",
        {"facility_id__code__in": "FAC1,FAC4"},
        lambda r: r["facility_id"]["key"] in ("FAC1", "FAC4"),
    ),
    ("order_hdr", {"company_id__in": "1,3"}, lambda r: r["company_id"]["id"] in (1, 3)),
    ("order_hdr", {"company_id!": "1"}, lambda r: r["company_id"]["id"] != 1),
    ("order_hdr", {"cust_name__icontains": "azul"}, lambda r: "Azul" in r["cust_name"]),
    (
        "order_hdr",
        {"ord_date__lt": "2024-06-01"},
        lambda r: r["ord_date"] is not None and r["ord_date"] < "2024-06-01",
    ),
    ("order_dtl", {"order_id": "7"}, lambda r: rel_id(r["order_id"]) == 7),
    (
        "order_dtl",
        {"order_id__range": "7,9", "status_id__in!": "99"},
        lambda r: 7 <= r["order_id"]["id"] <= 9 and r["status_id"] != 99,
    ),
]


@pytest.mark.parametrize(("entity", "params", "expected"), CASES)
@pytest.mark.parametrize("mode", ["paged", "sequenced"])
def test_filter_matches_ground_truth(
    sim_client: tuple[WmsSimulator, httpx.Client, dict[str, list[Record]]],
    entity: str,
    params: dict[str, str],
    expected: Callable[[Record], bool],
    mode: str,
) -> None:
    _, client, everything = sim_client
    want = ids([r for r in everything[entity] if expected(r)])
    assert want, "a case must select something"
    got, _ = read_all(client, entity, {**params, "page_size": 25, "page_mode": mode})
    assert ids(got) == want
    if mode == "paged":
        first = client.get(f"entity/{entity}/", params={**params, "page_size": 25}).json()
        assert first["result_count"] == len(want)


def test_timestamp_filters_honour_offsets_and_the_facility_zone(
    sim_client: tuple[WmsSimulator, httpx.Client, dict[str, list[Record]]],
) -> None:
    _, client, everything = sim_client
    records = everything["order_dtl"]
    pivot = sorted(ts(r["mod_ts"]) for r in records)[100]
    want = ids([r for r in records if ts(r["mod_ts"]) >= pivot])

    def got(value: str, name: str = "mod_ts__gte") -> list[int]:
        return ids(read_all(client, "order_dtl", {name: value, "page_size": 500})[0])

    for offset in (UTC, timezone(timedelta(hours=-3)), timezone(timedelta(hours=5))):
        assert got(pivot.astimezone(offset).isoformat()) == want
    naive_facility = pivot.astimezone(timezone(timedelta(hours=-3))).replace(tzinfo=None)
    assert got(naive_facility.isoformat()) == want  # no offset: the facility's -03:00
    whole_second = pivot.replace(microsecond=0)
    assert got(whole_second.isoformat()) == ids(
        [r for r in records if ts(r["mod_ts"]) >= whole_second]
    )
    window = (pivot.astimezone(UTC).isoformat(), (pivot + timedelta(days=3)).isoformat())
    assert got(",".join(window), "mod_ts__range") == ids(
        [r for r in records if pivot <= ts(r["mod_ts"]) <= pivot + timedelta(days=3)]
    )
    created = sorted(ts(r["create_ts"]) for r in records)[50]
    assert got(created.isoformat(), "create_ts__lt") == ids(
        [r for r in records if ts(r["create_ts"]) < created]
    )


def test_unsent_plus_in_an_offset_is_read_as_plus(
    sim_client: tuple[WmsSimulator, httpx.Client, dict[str, list[Record]]],
) -> None:
    _, client, everything = sim_client
    pivot = sorted(ts(r["mod_ts"]) for r in everything["allocation"])[120]
    raw = pivot.astimezone(timezone(timedelta(hours=1))).isoformat()
    response = client.get(f"entity/allocation/?page_size=500&mod_ts__gte={raw}")  # '+' unencoded
    assert response.status_code == 200
    assert len(response.json()["results"]) == 120


@pytest.mark.parametrize(
    "params",
    [
        {"nope": "1"},
        {"id": "abc"},
        {"mod_ts__gte": "yesterday"},
        {"status_id__regex": "1"},
        {"id__range": "1"},
        {"wave_id__isnull": "maybe"},
        {"page_mode": "random"},
        {"page_size": "x"},
        {"url": "x"},
        {"order_dtl_set": "1"},
    ],
)
def test_bad_filters_are_400_with_the_error_body(
    sim_client: tuple[WmsSimulator, httpx.Client, dict[str, list[Record]]],
    params: dict[str, str],
) -> None:
    _, client, _ = sim_client
    entity = "order_hdr" if "order_dtl_set" in params else "allocation"
    response = client.get(f"entity/{entity}/", params=params)
    assert response.status_code == 400
    body = error_body(response)
    assert body["code"] == "VALIDATION_ERROR"
    assert body["message"] == "Invalid input."
    assert set(body["details"]) == set(params)


@pytest.mark.parametrize("mode", ["paged", "sequenced"])
def test_empty_filtered_result_is_404(
    sim_client: tuple[WmsSimulator, httpx.Client, dict[str, list[Record]]],
    mode: str,
) -> None:
    _, client, _ = sim_client
    response = client.get("entity/allocation/", params={"id__gt": 10**6, "page_mode": mode})
    assert response.status_code == 404
    assert error_body(response)["code"] == "NOT_FOUND"


def test_sequenced_body_cursor_and_previous_page(
    sim_client: tuple[WmsSimulator, httpx.Client, dict[str, list[Record]]],
) -> None:
    _, client, _ = sim_client
    params: dict[str, str | int] = {
        "page_mode": "sequenced",
        "page_size": 30,
        "ordering": "id",
        "status_id__gte": 0,
    }
    first = client.get("entity/allocation/", params=params).json()
    assert set(first) == {"next_page", "previous_page", "results"}
    assert first["previous_page"] is None
    assert decoded_cursor(first["next_page"]) == "p=30"
    link = httpx.URL(first["next_page"])
    assert {k: v for k, v in link.params.items() if k != "cursor"} == {
        k: str(v) for k, v in params.items()
    }
    second = client.get(first["next_page"]).json()
    assert [r["id"] for r in second["results"]] == list(range(31, 61))
    back = client.get(second["previous_page"]).json()
    assert back["results"] == first["results"]
    assert back["previous_page"] is None
    assert back["next_page"] is not None
    by_mod = client.get("entity/allocation/", params={**params, "ordering": "mod_ts"}).json()
    last = by_mod["results"][-1]
    assert decoded_cursor(by_mod["next_page"]).endswith(f"_{last['id']}")


def test_bad_cursor_is_400(
    sim_client: tuple[WmsSimulator, httpx.Client, dict[str, list[Record]]],
) -> None:
    _, client, _ = sim_client
    for cursor in ("!!!", "cD0xNDAw" + "x", "cD0xXzI="):  # garbage, bad base64, wrong key size
        response = client.get(
            "entity/allocation/", params={"page_mode": "sequenced", "cursor": cursor}
        )
        assert response.status_code == 400, cursor
        assert "cursor" in error_body(response)["details"]
