"""A one-shot run's final metrics: pushed to a Pushgateway or written as a node-exporter
textfile. Neither ever fails the run: a failure is returned as a one-line message to log."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from prometheus_client import CollectorRegistry, push_to_gateway
from prometheus_client.exposition import generate_latest

from gruponos.adapters.urls import redact


def push_metrics(
    registry: CollectorRegistry, url: str, job: str, pipeline: str, timeout: float = 10.0
) -> str | None:
    """Replace this job's and pipeline's group on the Pushgateway at ``url`` with the registry's
    metrics; ``None`` on success, else what went wrong (secrets in the URL masked)."""
    try:
        push_to_gateway(
            url, job=job, registry=registry, grouping_key={"pipeline": pipeline}, timeout=timeout
        )
    except OSError as exc:  # URLError, HTTPError and connection errors are all OSErrors
        return redact(f"pushgateway {url}: {exc}")
    return None


def write_textfile(registry: CollectorRegistry, path: Path) -> str | None:
    """Write the registry to ``path`` for node-exporter's textfile collector, atomically (a
    temporary file in the same, existing folder, renamed), as node-exporter requires; ``None``
    on success, else what went wrong."""
    try:  # the folder is node-exporter's: it must exist (a typo creates nothing)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(handle, "wb") as out:
            out.write(generate_latest(registry))
        Path(temporary).replace(path)
    except OSError as exc:
        return redact(f"metrics textfile {path}: {exc.strerror or exc}")
    return None
