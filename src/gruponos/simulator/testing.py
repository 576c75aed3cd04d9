"""Helpers for tests that drive a :class:`WmsSimulator` over real HTTP with httpx.

>>> with running(records=100) as (sim, client):  # doctest: +SKIP
...     records, pages = read_all(client, "allocation", {"page_mode": "sequenced"})
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import orjson

from gruponos.simulator.config import SimulatorConfig
from gruponos.simulator.server import WmsSimulator

DEFAULT_AUTH = (SimulatorConfig.username, SimulatorConfig.password)


@contextmanager
def running(**config: Any) -> Iterator[tuple[WmsSimulator, httpx.Client]]:
    """A started simulator (``SimulatorConfig(**config)``, 200 records unless told) and an
    httpx client with Basic auth whose base URL is the API root; both closed afterwards."""
    config.setdefault("records", 200)
    with (
        WmsSimulator(SimulatorConfig(**config)) as sim,
        httpx.Client(base_url=sim.api_url + "/", auth=DEFAULT_AUTH, timeout=10) as client,
    ):
        yield sim, client


def read_all(
    client: httpx.Client, entity: str, params: dict[str, Any]
) -> tuple[list[dict[str, Any]], int]:
    """Every record and the page count, following ``next_page`` until it is null or a page
    is the documented 404 of an empty result."""
    url: str | None = f"entity/{entity}/"
    query: dict[str, Any] | None = params
    records: list[dict[str, Any]] = []
    pages = 0
    while url:
        response = client.get(url, params=query)
        query = None  # next_page carries every parameter
        if response.status_code == 404:
            break
        response.raise_for_status()
        body = orjson.loads(response.content)
        records.extend(body["results"])
        pages += 1
        url = body["next_page"]
    return records, pages


def error_body(response: httpx.Response) -> dict[str, Any]:
    """The documented error body of ``response``; ValueError if it does not have that shape."""
    body = orjson.loads(response.content)
    if not isinstance(body, dict) or set(body) != {"reference", "code", "message", "details"}:
        msg = f"not an lgfapi error body: {response.text[:200]}"
        raise ValueError(msg)
    uuid.UUID(body["reference"])
    if not body["message"] or not body["code"]:
        msg = "empty code or message"
        raise ValueError(msg)
    return body


def decoded_cursor(url: str) -> str:
    """The plain text of the ``cursor`` parameter of a sequenced-mode link."""
    return base64.b64decode(httpx.URL(url).params["cursor"]).decode()
