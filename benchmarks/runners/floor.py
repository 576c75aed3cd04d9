"""The floors: fetch and parse every page (``fetch``), or also COPY the rows into PostgreSQL
without any validation (``copy``): relations flattened to id and key, every other value as sent.

    python floor.py API_URL fetch
    python floor.py API_URL copy CONNINFO SCHEMA
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import psycopg

AUTH = ("wms_user", "wms_password")


def pages(api_url: str) -> Iterator[list[dict[str, Any]]]:
    url: str | None = f"{api_url}/entity/allocation/"
    params: dict[str, Any] | None = {"page_mode": "sequenced", "ordering": "id", "page_size": 1250}
    with httpx.Client(auth=AUTH, timeout=120) as client:
        while url:
            response = client.get(url, params=params)
            params = None
            if response.status_code == 404:
                return
            response.raise_for_status()
            body = orjson.loads(response.content)
            yield body["results"]
            url = body["next_page"]


def flat(record: dict[str, Any], fields: list[tuple[str, bool]]) -> list[Any]:
    row: list[Any] = []
    for name, relation in fields:
        value = record.get(name)
        if relation:
            row += [value.get("id"), value.get("key")] if value else [None, None]
        else:
            row.append(value)
    return row


def describe(api_url: str) -> list[tuple[str, bool]]:
    with httpx.Client(auth=AUTH, timeout=120) as client:
        body = client.get(f"{api_url}/entity/allocation/describe/").json()
    return [(name, spec["type"] == "relation") for name, spec in body["fields"].items()]


def main() -> None:
    api_url, mode = sys.argv[1:3]
    count = 0
    if mode == "fetch":
        for page in pages(api_url):
            count += len(page)
        print(f"floor fetch: {count} records")
        return
    conninfo, schema = sys.argv[3:5]
    fields = describe(api_url)
    names = [n for k, rel in fields for n in ((k, k + "_key") if rel else (k,))]
    with psycopg.connect(conninfo) as conn:
        cols = ", ".join(f'"{n}" TEXT' for n in names)
        conn.execute(f'CREATE TABLE "{schema}".allocation ({cols})')
        with conn.cursor().copy(f'COPY "{schema}".allocation FROM STDIN') as copy:
            for page in pages(api_url):
                for record in page:
                    copy.write_row(flat(record, fields))
                count += len(page)
    print(f"floor copy: {count} records")


if __name__ == "__main__":
    main()
