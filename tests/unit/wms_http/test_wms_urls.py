"""URL, filter and timestamp building for lgfapi requests (pure functions)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gruponos.adapters.wms_http.config import PageMode
from gruponos.adapters.wms_http.urls import (
    canonical,
    describe_url,
    encode_timestamp,
    entity_url,
    record_url,
    redact_url,
    same_origin,
    window_params,
)
from gruponos.domain.checkpoints import FullWindow, IncrementalWindow

ROOT = "https://ta3.wms.ocs.oraclecloud.com/prod/wms/lgfapi/v10/"

aware_datetimes = st.datetimes(
    min_value=datetime(2, 1, 1),
    max_value=datetime(9998, 12, 31),
    timezones=st.one_of(
        st.timezones(),
        st.builds(
            timezone,
            st.timedeltas(
                min_value=timedelta(hours=-23, minutes=-59),
                max_value=timedelta(hours=23, minutes=59),
            ),
        ),
    ),
)


@given(aware_datetimes)
def test_any_aware_datetime_encodes_to_the_same_instant_with_an_offset(moment: datetime) -> None:
    text = encode_timestamp(moment)
    parsed = datetime.fromisoformat(text)
    assert parsed.utcoffset() is not None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d\d:\d\d", text)
    # the same instant (``==`` across zones is False for times in a DST gap or fold, by PEP 495)
    assert parsed.astimezone(UTC) == moment.astimezone(UTC)


@given(st.datetimes())
def test_naive_datetimes_are_rejected(moment: datetime) -> None:
    with pytest.raises(ValueError, match="naive"):
        encode_timestamp(moment)


def test_the_offset_is_kept_not_replaced_by_utc() -> None:
    moment = datetime(2020, 11, 20, 11, 57, 14, 489559, tzinfo=timezone(timedelta(hours=-3)))
    assert encode_timestamp(moment) == "2020-11-20T11:57:14.489559-03:00"
    assert encode_timestamp(datetime(2024, 1, 1, tzinfo=UTC)) == "2024-01-01T00:00:00.000000+00:00"


def test_incremental_params_with_a_lower_bound() -> None:
    since = datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    params = window_params(IncrementalWindow(since), page_mode=PageMode.SEQUENCED, page_size=500)
    assert params == {
        "mod_ts__gte": "2024-05-01T12:00:00.000000+05:30",
        "ordering": "mod_ts,id",
        "page_mode": "sequenced",
        "page_size": "500",
    }


def test_incremental_params_without_a_lower_bound_omit_the_filter() -> None:
    params = window_params(IncrementalWindow(None), page_mode=PageMode.PAGED, page_size=10)
    assert "mod_ts__gte" not in params
    assert params["ordering"] == "mod_ts,id"
    assert params["page_mode"] == "paged"


def test_full_params() -> None:
    assert window_params(FullWindow(), page_mode=PageMode.SEQUENCED, page_size=1000) == {
        "ordering": "id",
        "page_mode": "sequenced",
        "page_size": "1000",
    }
    params = window_params(FullWindow(after_id=41), page_mode=PageMode.SEQUENCED, page_size=1)
    assert params["id__gt"] == "41"


def test_fields_always_include_the_keys_and_extra_filters_are_passed() -> None:
    params = window_params(
        FullWindow(),
        page_mode=PageMode.SEQUENCED,
        page_size=5,
        fields=("alloc_qty", "id", "status_id"),
        extra_filters={"facility_id__code": "FAC1", "status_id__in!": "90,99"},
    )
    assert params["fields"] == "id,mod_ts,alloc_qty,status_id"
    assert params["facility_id__code"] == "FAC1"
    assert params["status_id__in!"] == "90,99"


def test_params_are_url_encoded_safely_by_httpx() -> None:
    since = datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=1)))
    params = window_params(
        IncrementalWindow(since),
        page_mode=PageMode.SEQUENCED,
        page_size=5,
        extra_filters={"cust_field_1": "a&b=c +d#e"},
    )
    url = httpx.URL(entity_url(ROOT, "allocation"), params=params)
    raw = str(url)
    assert "+01:00" not in raw  # a raw '+' would be read as a space
    assert "%2B01%3A00" in raw
    decoded = dict(parse_qsl(urlsplit(raw).query))
    assert decoded["mod_ts__gte"] == "2024-05-01T12:00:00.000000+01:00"
    assert decoded["cust_field_1"] == "a&b=c +d#e"


def test_resource_urls() -> None:
    assert entity_url(ROOT, "order_hdr") == ROOT + "entity/order_hdr/"
    assert describe_url(ROOT, "order_hdr") == ROOT + "entity/order_hdr/describe/"
    assert record_url(ROOT, "order_dtl", 7) == ROOT + "entity/order_dtl/7/"


@pytest.mark.parametrize("name", ["../x", "a/b", "A", "", "x?y=1", "allocation/../../admin"])
def test_hostile_entity_names_never_reach_a_path(name: str) -> None:
    with pytest.raises(ValueError, match="not an entity name"):
        entity_url(ROOT, name)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://ta3.wms.ocs.oraclecloud.com/prod/wms/lgfapi/v10/entity/x/?cursor=a", True),
        ("https://ta3.wms.ocs.oraclecloud.com:443/other", True),
        ("http://ta3.wms.ocs.oraclecloud.com/prod/", False),
        ("https://evil.example/prod/", False),
        ("https://ta3.wms.ocs.oraclecloud.com:8443/prod/", False),
        ("https://ta3.wms.ocs.oraclecloud.com.evil.example/prod/", False),
        ("/relative/only", False),
    ],
)
def test_same_origin(url: str, expected: bool) -> None:
    assert same_origin(url, "https://ta3.wms.ocs.oraclecloud.com/prod") is expected


def test_canonical_ignores_parameter_order() -> None:
    assert canonical("https://h/e/?b=2&a=1") == canonical("https://h/e/?a=1&b=2")
    assert canonical("https://h/e/?a=1&b=2") != canonical("https://h/e/?a=1&b=3")


def test_redact_url_drops_user_info_and_secret_parameters() -> None:
    shown = redact_url("https://user:pw@h/e/?access_token=tok123&page=2")
    assert "pw" not in shown
    assert "tok123" not in shown
    assert "page=2" in shown
