"""The simulator's lgfapi v10 resources over real HTTP: index, describe, list, detail, records."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from gruponos.simulator import ENTITIES
from gruponos.simulator.testing import error_body, read_all, running

TYPES = {"pk", "relation", "varchar", "decimal", "datetime", "date", "boolean", "integer"}


def assert_error_body(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = error_body(response)
    if code is not None:
        assert body["code"] == code


TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d\d:\d\d$")


def test_entity_index_lists_entities_with_absolute_urls() -> None:
    with running() as (sim, client):
        body = client.get("entity/").json()
        assert body == {e: f"{sim.api_url}/entity/{e}/" for e in ENTITIES}
        assert client.get("entity").json() == body  # trailing slash optional
        assert sim.base_url.endswith("/gruponos")
        assert sim.base_url.startswith("http://127.0.0.1:")


def test_describe_has_parameters_and_typed_fields() -> None:
    with running() as (_, client):
        body = client.get("entity/order_hdr/describe/").json()
        assert set(body) == {"parameters", "fields"}
        assert {"id", "mod_ts", "create_ts", "status_id", "facility_id"} <= set(body["parameters"])
        fields = body["fields"]
        for spec in fields.values():
            assert set(spec) == {"type", "max_length", "required", "allow_blank", "default"}
            assert spec["type"] in TYPES
        assert {spec["type"] for spec in fields.values()} == TYPES
        assert fields["id"]["type"] == "pk"
        assert fields["facility_id"]["type"] == "relation"
        assert fields["mod_ts"]["type"] == "datetime"
        assert fields["ord_date"]["type"] == "date"
        assert fields["stop_ship_flg"]["type"] == "boolean"
        assert fields["total_orig_ord_qty"]["type"] == "decimal"
        assert fields["status_id"]["type"] == "integer"
        assert fields["order_nbr"] == {
            "type": "varchar",
            "max_length": 100,
            "required": "Y",
            "allow_blank": False,
            "default": None,
        }
        assert client.get("entity/order_hdr/describe").status_code == 200


def test_describe_sends_required_as_documented_letters_or_booleans_on_request() -> None:
    with running() as (_, client):
        letters = {
            name: spec["required"]
            for name, spec in client.get("entity/allocation/describe/").json()["fields"].items()
        }
    # X for the key, Y required (wave_id: required, yet null in old records), C conditional.
    assert (letters["id"], letters["mod_ts"], letters["wave_id"]) == ("X", "Y", "Y")
    assert (letters["ob_lpn_type_id"], letters["pick_user"]) == ("C", "N")
    assert set(letters.values()) == {"X", "Y", "C", "N"}
    with running(describe_required="booleans") as (_, client):
        booleans = {
            name: spec["required"]
            for name, spec in client.get("entity/allocation/describe/").json()["fields"].items()
        }
    assert booleans == {name: letter in ("X", "Y") for name, letter in letters.items()}


def test_paged_list_body_and_absolute_links() -> None:
    with running(records=25, page_size_default=10) as (sim, client):
        first = client.get("entity/allocation/", params={"status_id__gte": 0}).json()
        assert set(first) == {
            "result_count",
            "page_count",
            "page_nbr",
            "next_page",
            "previous_page",
            "results",
        }
        assert (first["result_count"], first["page_count"], first["page_nbr"]) == (25, 3, 1)
        assert len(first["results"]) == 10
        assert first["previous_page"] is None
        nxt = httpx.URL(first["next_page"])
        assert str(nxt).startswith(f"{sim.api_url}/entity/allocation/")
        assert dict(nxt.params) == {"status_id__gte": "0", "page": "2"}
        last = client.get(client.get(first["next_page"]).json()["next_page"]).json()
        assert (last["page_nbr"], len(last["results"]), last["next_page"]) == (3, 5, None)
        assert httpx.URL(last["previous_page"]).params["page"] == "2"
        assert_error_body(client.get("entity/allocation/", params={"page": 4}), 404)
        assert_error_body(client.get("entity/allocation/", params={"page": 0}), 400)


def test_page_size_limits() -> None:
    with running(records=1300) as (_, client):
        assert (
            len(client.get("entity/order_dtl/", params={"page_size": 1250}).json()["results"])
            == 1250
        )
        response = client.get("entity/order_dtl/", params={"page_size": 1251})
        assert_error_body(response, 400, "VALIDATION_ERROR")
        assert response.json()["message"] == "Invalid input."
        assert "page_size" in response.json()["details"]


def test_last_repeated_parameter_wins_and_trailing_slash_is_optional() -> None:
    with running() as (_, client):
        body = client.get("entity/allocation?id=1&id=2").json()
        assert [r["id"] for r in body["results"]] == [2]
        assert client.get("entity/allocation/2").json()["id"] == 2
        assert client.get("entity/allocation/2/").json()["id"] == 2


def test_detail_matches_list_and_ground_truth() -> None:
    with running() as (sim, client):
        listed = client.get("entity/order_dtl/", params={"id": 7}).json()["results"][0]
        detail = client.get("entity/order_dtl/7/").json()
        assert listed == detail == sim.get_record("order_dtl", 7)
        assert client.get("entity/order_dtl/7/", params={"fields": "id,mod_ts"}).json() == {
            "id": 7,
            "mod_ts": detail["mod_ts"],
        }
        assert_error_body(client.get("entity/order_dtl/99999/"), 404, "NOT_FOUND")
        assert_error_body(client.get("entity/nonexistent/"), 404, "NOT_FOUND")
        assert_error_body(client.get("entity/nonexistent/1/"), 404)


def test_fields_restricts_and_unknown_field_is_400() -> None:
    with running() as (_, client):
        body = client.get("entity/allocation/", params={"fields": "id,mod_ts,order_dtl_id"}).json()
        assert all(set(r) == {"id", "mod_ts", "order_dtl_id"} for r in body["results"])
        assert_error_body(client.get("entity/allocation/", params={"fields": "id,nope"}), 400)


def _check_value(kind: str, value: Any) -> None:
    if value is None:
        return
    if kind == "relation":
        assert set(value) == {"id", "key", "url"}
        assert isinstance(value["id"], int)
        assert value["url"] == "" or value["url"].startswith("http://")
    elif kind == "decimal":
        assert isinstance(value, str)
        Decimal(value)
    elif kind == "datetime":
        assert TS.match(value), value
    elif kind == "date":
        assert re.match(r"^\d{4}-\d\d-\d\d$", value)
    elif kind == "boolean":
        assert isinstance(value, bool)
    elif kind in ("integer", "pk"):
        assert isinstance(value, int)
        assert not isinstance(value, bool)
    else:
        assert isinstance(value, str)


@pytest.mark.parametrize("entity", ENTITIES)
def test_records_follow_the_catalog_types(entity: str) -> None:
    with running(records=300) as (sim, client):
        fields = client.get(f"entity/{entity}/describe/").json()["fields"]
        records, _ = read_all(client, entity, {"page_size": 1000})
        assert len(records) == 300
        offsets: Counter[str] = Counter()
        for record in records:
            assert record["url"] == f"{sim.api_url}/entity/{entity}/{record['id']}"
            for name, spec in fields.items():
                _check_value(spec["type"], record[name])
            offsets[record["mod_ts"][-6:]] += 1
            assert isinstance(record["status_id"], int)
            for name in record:
                if name.endswith("_flg"):
                    assert isinstance(record[name], bool)
                if name.endswith("_set") and record[name] is not None:
                    assert set(record[name]) == {"result_count", "url"}
        assert {"-03:00", "+00:00", "-05:00", "+01:00"} <= set(offsets)
        relations = [n for n, s in fields.items() if s["type"] == "relation"]
        values = [r[n] for r in records for n in relations]
        assert any(v is None for v in values)
        assert any(v is not None and v["url"] == "" for v in values)


def test_records_are_referentially_consistent() -> None:
    with running(records=120, entity_records={"order_hdr": 40}) as (sim, client):
        hdrs = {r["id"]: r for r in read_all(client, "order_hdr", {"page_size": 500})[0]}
        dtls = {r["id"]: r for r in read_all(client, "order_dtl", {"page_size": 500})[0]}
        allocs = read_all(client, "allocation", {"page_size": 500})[0]
        assert all(a["order_dtl_id"]["id"] in dtls for a in allocs)
        assert all(d["order_id"]["id"] in hdrs for d in dtls.values())
        for d in dtls.values():
            assert d["order_id"]["key"] == hdrs[d["order_id"]["id"]]["order_nbr"]
        for a in allocs:
            dtl = dtls[a["order_dtl_id"]["id"]]
            assert a["order_dtl_id"]["key"] == f"{dtl['order_id']['key']},{dtl['seq_nbr']}"
        children = Counter(d["order_id"]["id"] for d in dtls.values())
        for hdr in hdrs.values():
            link = hdr["order_dtl_set"]
            assert link["result_count"] == children[hdr["id"]] == 3
            assert link["url"] == f"{sim.api_url}/entity/order_dtl/?order_id={hdr['id']}"
            assert hdr["facility_id"]["key"] == f"FAC{hdr['facility_id']['id']}"
        assert {h["facility_id"]["key"] for h in hdrs.values()} == {"FAC1", "FAC2", "FAC3", "FAC4"}
        via_link = client.get(hdrs[5]["order_dtl_set"]["url"]).json()
        assert via_link["result_count"] == 3


def test_generation_is_deterministic_per_seed() -> None:
    def first_page(seed: int) -> list[dict[str, Any]]:
        with running(seed=seed) as (sim, client):
            text = client.get("entity/order_hdr/", params={"page_size": 50}).text
            return list(httpx.Response(200, text=text.replace(sim.api_url, "X")).json()["results"])

    assert first_page(1) == first_page(1)
    assert first_page(1) != first_page(2)


@pytest.mark.parametrize(
    ("ordering", "key"),
    [
        ("id", lambda r: r["id"]),
        ("-id", lambda r: -r["id"]),
        ("mod_ts", lambda r: (datetime.fromisoformat(r["mod_ts"]), r["id"])),
        ("mod_ts,id", lambda r: (datetime.fromisoformat(r["mod_ts"]), r["id"])),
        ("create_ts", lambda r: datetime.fromisoformat(r["create_ts"])),
    ],
)
@pytest.mark.parametrize("mode", ["paged", "sequenced"])
def test_ordering(ordering: str, key: Any, mode: str) -> None:
    with running(records=150) as (_, client):
        records, pages = read_all(
            client, "allocation", {"ordering": ordering, "page_size": 40, "page_mode": mode}
        )
        assert pages == 4
        assert len(records) == 150
        assert records == sorted(records, key=key)


def test_descending_mod_ts() -> None:
    with running(records=150) as (sim, client):
        records, _ = read_all(
            client, "order_hdr", {"ordering": "-mod_ts", "page_size": 40, "page_mode": "sequenced"}
        )
        instants = [datetime.fromisoformat(r["mod_ts"]) for r in records]
        assert instants == sorted(instants, reverse=True)
        assert [r["id"] for r in records] == sorted(
            sim.truth("order_hdr"), key=lambda i: sim.truth("order_hdr")[i], reverse=True
        )


def test_unsupported_or_unknown_ordering_is_400() -> None:
    with running() as (_, client):
        assert_error_body(client.get("entity/allocation/", params={"ordering": "nope"}), 400)
        assert_error_body(client.get("entity/allocation/", params={"ordering": "alloc_qty"}), 400)
