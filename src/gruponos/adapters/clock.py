"""The real clock and run ids."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime


class SystemClock:
    """Implements the ``Clock`` port with the wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def new_run_id() -> str:
    """A sortable, unique run id: UTC time plus 8 random hex digits (``20240101T120000Z-1a2b3c4d``)."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
