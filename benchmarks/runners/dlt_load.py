"""dlt's ``rest_api`` source following ``next_page``, merged on ``id`` into PostgreSQL.

python dlt_load.py API_URL POSTGRES_URL DATASET PIPELINES_DIR
"""

from __future__ import annotations

import sys

import dlt
from dlt.sources.rest_api import rest_api_source


def main() -> None:
    api_url, postgres_url, dataset, pipelines_dir = sys.argv[1:5]
    source = rest_api_source(
        {
            "client": {
                "base_url": f"{api_url}/",
                "auth": {"type": "http_basic", "username": "wms_user", "password": "wms_password"},
                "paginator": {"type": "json_link", "next_url_path": "next_page"},
            },
            "resource_defaults": {"primary_key": "id", "write_disposition": "merge"},
            "resources": [
                {
                    "name": "allocation",
                    "endpoint": {
                        "path": "entity/allocation/",
                        "params": {"page_mode": "sequenced", "ordering": "id", "page_size": 1250},
                        "data_selector": "results",
                    },
                }
            ],
        }
    )
    pipeline = dlt.pipeline(
        pipeline_name="bench_dlt",
        destination=dlt.destinations.postgres(postgres_url),
        dataset_name=dataset,
        pipelines_dir=pipelines_dir,
    )
    info = pipeline.run(source)
    print(info)


if __name__ == "__main__":
    main()
