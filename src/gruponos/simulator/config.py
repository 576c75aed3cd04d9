"""Configuration of one simulated WMS server."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

ENTITIES = ("allocation", "order_hdr", "order_dtl")


class FaultKind(enum.Enum):
    """What an injected fault does to a list or detail request."""

    RATE_LIMIT = "429"  # 429 with Retry-After
    SERVER_ERROR = "500"
    BAD_GATEWAY = "502"  # HTML body, as a gateway sends it
    UNAVAILABLE = "503"  # JSON body and Retry-After
    GATEWAY_TIMEOUT = "504"  # HTML body
    CONFLICT = "409"  # "record changed, try again"
    SLOW = "slow"  # sleeps slow_seconds before answering normally
    RESET = "reset"  # headers and part of the body, then a TCP reset
    TRUNCATED = "truncated"  # 200 whose body (and Content-Length) is cut mid-JSON
    TOKEN_EXPIRED = "token_expired"  # noqa: S105 - 401 for a bearer token, which stays revoked

    @classmethod
    def parse_list(cls, text: str) -> frozenset[FaultKind]:
        """``"429,500,slow"`` -> kinds; ``"all"`` or empty -> every kind."""
        names = [t.strip() for t in text.split(",") if t.strip()]
        if not names or names == ["all"]:
            return frozenset(cls)
        return frozenset(cls(n) for n in names)


def parse_utc_offset(text: str) -> timezone:
    """``"-03:00"`` -> a fixed-offset tzinfo."""
    sign = -1 if text.startswith("-") else 1
    hours, _, minutes = text.lstrip("+-").partition(":")
    return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes or 0)))


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything a :class:`~gruponos.simulator.WmsSimulator` can be told.

    ``records`` is the initial row count of every entity unless ``entity_records`` names one.
    """

    host: str = "127.0.0.1"
    port: int = 0  # 0 = an ephemeral port
    env: str = "gruponos"  # the <environment> path segment of the base URL
    records: int = 1000
    entity_records: Mapping[str, int] = field(default_factory=dict)
    seed: int = 42
    page_size_default: int = 100
    page_size_max: int = 1250
    username: str = "wms_user"
    password: str = "wms_password"  # noqa: S105 - a simulator's throwaway default
    client_id: str = "wms_client"
    client_secret: str = "wms_client_secret"  # noqa: S105 - a simulator's throwaway default
    token_lifetime_seconds: float = 3600.0
    facility_tz: timezone = field(default_factory=lambda: parse_utc_offset("-03:00"))
    data_start: datetime = datetime(2024, 1, 1, tzinfo=UTC)
    data_span_days: int = 365
    fault_rate: float = 0.0
    fault_kinds: frozenset[FaultKind] = frozenset(FaultKind)
    fault_seed: int = 0
    slow_seconds: float = 2.0
    retry_after_seconds: int = 1
    change_rate: float = 0.0  # random changes per list request to the requested entity
    change_seed: int = 0
    change_mix: tuple[float, float, float] = (0.6, 0.25, 0.15)  # touch, insert, delete weights
    read_ahead: bool = False  # render a sequenced page's next page while the client reads
    # latency mode: every list/detail request waits this long before its answer, as a remote WMS
    # does (each request on its own thread, so concurrent requests wait side by side)
    latency_seconds: float = 0.0
    # describe's "required": "letters" (Y/X/N/C, as Oracle documents and sends) or "booleans"
    describe_required: str = "letters"
    # entity -> field -> spec members that describe reports instead of the catalog's (e.g. a
    # max_length shorter than the data, as a misconfigured instance would report)
    describe_overrides: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)

    def records_of(self, entity: str) -> int:
        return self.entity_records.get(entity, self.records)

    def __post_init__(self) -> None:
        if not 0.0 <= self.fault_rate <= 1.0:
            msg = "fault_rate must be within 0..1"
            raise ValueError(msg)
        if not 1 <= self.page_size_default <= self.page_size_max:
            msg = "page_size_default must be within 1..page_size_max"
            raise ValueError(msg)
        unknown = set(self.entity_records) - set(ENTITIES)
        if unknown:
            msg = f"unknown entities in entity_records: {sorted(unknown)}"
            raise ValueError(msg)
        if self.describe_required not in ("letters", "booleans"):
            msg = "describe_required must be 'letters' or 'booleans'"
            raise ValueError(msg)
        if self.records < 0 or self.change_rate < 0 or self.latency_seconds < 0:
            msg = "records, change_rate and latency_seconds must not be negative"
            raise ValueError(msg)
