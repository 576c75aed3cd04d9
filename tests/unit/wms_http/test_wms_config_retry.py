"""Configuration validation, secret masking, and the retry policy's arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from gruponos.adapters.wms_http import (
    BasicAuthConfig,
    OAuth2Config,
    OAuth2Grant,
    PageMode,
    WmsClientConfig,
)
from gruponos.adapters.wms_http.retry import RetryPolicy, parse_retry_after

BASE = "https://ta3.wms.ocs.oraclecloud.com/prod"


def basic() -> BasicAuthConfig:
    return BasicAuthConfig("integ", "hunter2-password")


def test_defaults_and_api_root() -> None:
    config = WmsClientConfig(base_url=BASE + "/", auth=basic())
    assert config.api_root == BASE + "/wms/lgfapi/v10/"
    assert config.page_size == 1000
    assert config.page_mode is PageMode.SEQUENCED
    assert config.max_concurrency == 4
    assert config.verify_tls is True


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"page_size": 0}, "page_size"),
        ({"page_size": 1251}, "page_size"),
        ({"max_concurrency": 10}, "max_concurrency"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"read_timeout": 0}, "timeouts"),
        ({"backoff_base": 5.0, "backoff_cap": 1.0}, "backoff"),
        ({"base_url": "ftp://x/prod"}, "base_url"),
        ({"base_url": "https://u:p@x/prod"}, "base_url"),
        ({"base_url": "https://x/prod?a=1"}, "base_url"),
        ({"extra_filters": {"ordering": "-id"}}, "extra_filters"),
        ({"extra_filters": {"a b": "1"}}, "extra_filters"),
        ({"fields": ("id", "x;drop")}, "fields"),
        ({"api_version": "10"}, "api_version"),
    ],
)
def test_invalid_values_are_rejected(changes: dict[str, object], field: str) -> None:
    kwargs: dict[str, object] = {"base_url": BASE, "auth": basic(), **changes}
    with pytest.raises(ValueError, match=field):
        WmsClientConfig(**kwargs)  # type: ignore[arg-type]


def test_page_size_bounds_are_inclusive() -> None:
    assert WmsClientConfig(base_url=BASE, auth=basic(), page_size=1).page_size == 1
    assert WmsClientConfig(base_url=BASE, auth=basic(), page_size=1250).page_size == 1250


def test_oauth_password_grant_needs_user_and_password() -> None:
    with pytest.raises(ValueError, match="password grant"):
        WmsClientConfig(
            base_url=BASE,
            auth=OAuth2Config(
                "https://idcs.example/oauth2/v1/token", "cid", "csecret", OAuth2Grant.PASSWORD
            ),
        )


def test_repr_and_str_mask_every_secret() -> None:
    oauth = OAuth2Config(
        "https://idcs.example/oauth2/v1/token",
        "cid",
        "client-secret-value",
        OAuth2Grant.PASSWORD,
        username="u",
        password=SecretStr("user-password-value"),
    )
    for config in (
        WmsClientConfig(base_url=BASE, auth=basic()),
        WmsClientConfig(base_url=BASE, auth=oauth),
    ):
        text = repr(config) + str(config) + repr(config.auth) + str(config.auth)
        for secret in ("hunter2-password", "client-secret-value", "user-password-value"):
            assert secret not in text
        assert "**********" in text
    assert isinstance(oauth.client_secret, SecretStr)


@given(st.integers(1, 100), st.floats(0, 1, exclude_max=True))
def test_backoff_is_full_jitter_under_the_cap(attempt: int, draw: float) -> None:
    policy = RetryPolicy(5, 0.5, 30.0, 60.0, random=lambda: draw)
    delay = policy.backoff(attempt)
    assert 0 <= delay <= min(30.0, 0.5 * 2 ** (attempt - 1))


def test_retry_after_replaces_backoff_and_is_capped() -> None:
    policy = RetryPolicy(5, 0.5, 30.0, 10.0, random=lambda: 0.5)
    assert policy.delay(1, 3.0) == 3.0
    assert policy.delay(1, 3600.0) == 10.0
    assert policy.delay(1, None) == 0.25


def test_parse_retry_after_seconds_and_dates() -> None:
    now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=42), usegmt=True), now) == 42.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=42), usegmt=True), now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None
