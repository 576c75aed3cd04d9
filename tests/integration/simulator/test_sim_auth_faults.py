"""Authentication (Basic, OAuth2 token endpoint, expiry) and every injected fault kind."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import orjson
import pytest
from click.testing import CliRunner

from gruponos.simulator import FaultKind, SimulatorConfig, WmsSimulator
from gruponos.simulator.cli import simulator
from gruponos.simulator.testing import DEFAULT_AUTH, error_body, running

ALLOCATIONS = "entity/allocation/"


def token(sim: WmsSimulator, **form: str) -> httpx.Response:
    with httpx.Client() as plain:
        return plain.post(sim.token_url, data=form)


def test_basic_auth_required_and_checked() -> None:
    with running() as (sim, client), httpx.Client(base_url=sim.api_url + "/") as anonymous:
        missing = anonymous.get(ALLOCATIONS)
        assert missing.status_code == 401
        assert error_body(missing)["code"] == "NOT_AUTHENTICATED"
        assert missing.headers["WWW-Authenticate"].startswith("Basic")
        wrong = anonymous.get(ALLOCATIONS, auth=("wms_user", "nope"))
        assert wrong.status_code == 401
        error_body(wrong)
        assert anonymous.get(ALLOCATIONS, headers={"Authorization": "Basic !!"}).status_code == 401
        assert client.get(ALLOCATIONS).status_code == 200


def test_token_endpoint_grants_and_errors() -> None:
    with running() as (sim, _):
        assert sim.token_url == f"{sim.origin}/oauth2/v1/token"
        with httpx.Client() as plain:
            by_basic = plain.post(
                sim.token_url,
                data={"grant_type": "client_credentials"},
                auth=("wms_client", "wms_client_secret"),
            )
            assert by_basic.status_code == 200
            body = by_basic.json()
            assert body["token_type"] == "Bearer"
            assert body["expires_in"] == 3600
            assert body["scope"] == "urn:resource:fusion:scm:logistics:wms:lgfapi/"
            bad_client = plain.post(
                sim.token_url,
                data={"grant_type": "client_credentials"},
                auth=("wms_client", "wrong"),
            )
            assert (bad_client.status_code, bad_client.json()["error"]) == (401, "invalid_client")
            assert plain.get(sim.token_url).status_code == 405
        by_form = token(
            sim,
            grant_type="client_credentials",
            client_id="wms_client",
            client_secret="wms_client_secret",
        )
        assert by_form.status_code == 200
        password = token(
            sim, grant_type="password", username="wms_user", password="wms_password", scope="x"
        )
        assert (password.status_code, password.json()["scope"]) == (200, "x")
        bad_user = token(sim, grant_type="password", username="wms_user", password="no")
        assert (bad_user.status_code, bad_user.json()["error"]) == (401, "invalid_grant")
        no_client = token(sim, grant_type="client_credentials")
        assert no_client.status_code == 401
        unsupported = token(sim, grant_type="authorization_code")
        assert (unsupported.status_code, unsupported.json()["error"]) == (
            400,
            "unsupported_grant_type",
        )
        assert sim.auth.issued == 3


def test_bearer_tokens_work_and_expire() -> None:
    with running() as (sim, _), httpx.Client(base_url=sim.api_url + "/") as client:
        first = token(
            sim, grant_type="password", username="wms_user", password="wms_password"
        ).json()["access_token"]
        bearer = {"Authorization": f"Bearer {first}"}
        assert client.get(ALLOCATIONS, headers=bearer).status_code == 200
        sim.expire_tokens()
        expired = client.get(ALLOCATIONS, headers=bearer)
        assert expired.status_code == 401
        assert error_body(expired)["code"] == "NOT_AUTHENTICATED"
        assert expired.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
        second = token(
            sim, grant_type="password", username="wms_user", password="wms_password"
        ).json()["access_token"]
        assert (
            client.get(ALLOCATIONS, headers={"Authorization": f"Bearer {second}"}).status_code
            == 200
        )
        assert (
            client.get(ALLOCATIONS, headers={"Authorization": "Bearer forged"}).status_code == 401
        )


def test_token_lifetime_runs_on_the_clock() -> None:
    with running(token_lifetime_seconds=0.0) as (sim, _), httpx.Client() as client:
        issued = token(sim, grant_type="password", username="wms_user", password="wms_password")
        assert issued.json()["expires_in"] == 0
        response = client.get(
            f"{sim.api_url}/{ALLOCATIONS}",
            headers={"Authorization": f"Bearer {issued.json()['access_token']}"},
        )
        assert response.status_code == 401


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        (FaultKind.RATE_LIMIT, 429),
        (FaultKind.SERVER_ERROR, 500),
        (FaultKind.UNAVAILABLE, 503),
        (FaultKind.CONFLICT, 409),
    ],
)
def test_json_error_faults(kind: FaultKind, status: int) -> None:
    with running(retry_after_seconds=7) as (sim, client):
        sim.force_fault(kind, 2)
        for path in (ALLOCATIONS, f"{ALLOCATIONS}3/"):
            response = client.get(path)
            assert response.status_code == status
            error_body(response)
            if status in (429, 503):
                assert response.headers["Retry-After"] == "7"
        assert client.get(ALLOCATIONS).status_code == 200
        assert sim.faults.injected[kind] == 2


@pytest.mark.parametrize(
    ("kind", "status"), [(FaultKind.BAD_GATEWAY, 502), (FaultKind.GATEWAY_TIMEOUT, 504)]
)
def test_gateway_faults_answer_html(kind: FaultKind, status: int) -> None:
    with running() as (sim, client):
        sim.force_fault(kind)
        response = client.get(ALLOCATIONS)
        assert response.status_code == status
        assert response.headers["Content-Type"] == "text/html"
        assert str(status) in response.text
        assert client.get(ALLOCATIONS).status_code == 200


def test_faults_spare_index_describe_and_token() -> None:
    with running() as (sim, client):
        sim.force_fault(FaultKind.SERVER_ERROR)
        assert client.get("entity/").status_code == 200
        assert client.get("entity/allocation/describe/").status_code == 200
        assert (
            token(
                sim,
                grant_type="client_credentials",
                client_id="wms_client",
                client_secret="wms_client_secret",
            ).status_code
            == 200
        )
        assert client.get(ALLOCATIONS).status_code == 500


def test_slow_fault_trips_a_client_timeout() -> None:
    with running(slow_seconds=0.4) as (sim, client):
        sim.force_fault(FaultKind.SLOW)
        with pytest.raises(httpx.ReadTimeout):
            client.get(ALLOCATIONS, timeout=0.1)
        assert client.get(ALLOCATIONS).status_code == 200


def test_slow_fault_answers_normally_to_a_patient_client() -> None:
    with running(slow_seconds=0.2) as (sim, client):
        sim.force_fault(FaultKind.SLOW)
        assert client.get(ALLOCATIONS, timeout=5).status_code == 200


def test_reset_fault_breaks_the_connection_mid_body() -> None:
    with running() as (sim, client):
        sim.force_fault(FaultKind.RESET)
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            client.get(ALLOCATIONS, params={"page_size": 500})
        assert client.get(ALLOCATIONS).status_code == 200


def test_truncated_fault_sends_a_consistent_but_cut_body() -> None:
    with running() as (sim, client):
        sim.force_fault(FaultKind.TRUNCATED)
        response = client.get(ALLOCATIONS)
        assert response.status_code == 200
        assert int(response.headers["Content-Length"]) == len(response.content)
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(response.content)
        assert orjson.loads(client.get(ALLOCATIONS).content)["results"]


def test_token_expired_fault_revokes_the_bearer_token() -> None:
    with running() as (sim, basic_client), httpx.Client(base_url=sim.api_url + "/") as client:
        access = token(
            sim,
            grant_type="client_credentials",
            client_id="wms_client",
            client_secret="wms_client_secret",
        ).json()["access_token"]
        bearer = {"Authorization": f"Bearer {access}"}
        sim.force_fault(FaultKind.TOKEN_EXPIRED)
        response = client.get(ALLOCATIONS, headers=bearer)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
        assert client.get(ALLOCATIONS, headers=bearer).status_code == 401  # stays expired
        fresh = token(
            sim,
            grant_type="client_credentials",
            client_id="wms_client",
            client_secret="wms_client_secret",
        ).json()["access_token"]
        assert (
            client.get(ALLOCATIONS, headers={"Authorization": f"Bearer {fresh}"}).status_code == 200
        )
        sim.force_fault(FaultKind.TOKEN_EXPIRED)  # Basic credentials do not expire
        assert basic_client.get(ALLOCATIONS).status_code == 200


def test_random_faults_are_deterministic_per_seed_and_kind_set() -> None:
    def statuses(seed: int) -> list[int]:
        kinds = frozenset({FaultKind.SERVER_ERROR, FaultKind.RATE_LIMIT})
        with running(fault_rate=0.5, fault_seed=seed, fault_kinds=kinds) as (_, client):
            return [client.get(ALLOCATIONS, params={"page_size": 1}).status_code for _ in range(30)]

    first = statuses(3)
    assert first == statuses(3)
    assert first != statuses(4)
    assert set(first) == {200, 429, 500}


def test_fault_kinds_parse_from_text() -> None:
    assert FaultKind.parse_list("429,slow") == {FaultKind.RATE_LIMIT, FaultKind.SLOW}
    assert FaultKind.parse_list("all") == set(FaultKind)
    with pytest.raises(ValueError, match="bogus"):
        FaultKind.parse_list("bogus")
    with pytest.raises(ValueError, match="fault_rate"):
        SimulatorConfig(fault_rate=2)


def test_latency_mode_delays_every_data_request_and_they_wait_side_by_side() -> None:
    # Timing bounds only from below (a loaded machine makes everything slower, never faster);
    # that the requests wait side by side is read from the simulator's own in-flight peak.
    latency = 1.0
    with running(latency_seconds=latency) as (sim, client):
        started = time.perf_counter()
        assert client.get("entity/").status_code == 200  # the index is not a data request
        assert client.get("entity/allocation/describe/").status_code == 200
        assert time.perf_counter() - started < latency
        started = time.perf_counter()
        assert client.get(ALLOCATIONS).status_code == 200
        assert time.perf_counter() - started >= latency
        assert sim.max_in_flight == 1
        started = time.perf_counter()

        def fetch(_: int) -> int:
            with httpx.Client(base_url=sim.api_url + "/", auth=DEFAULT_AUTH) as own:
                return own.get(ALLOCATIONS).status_code

        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(fetch, range(4))) == [200] * 4
        assert time.perf_counter() - started >= latency
        # four requests at once wait their latency together, not one after the other
        assert sim.max_in_flight > 1


def test_latency_mode_rejects_a_negative_latency() -> None:
    with pytest.raises(ValueError, match="latency_seconds"):
        SimulatorConfig(latency_seconds=-0.1)
    result = CliRunner().invoke(simulator, ["serve", "--latency-ms", "-5"])
    assert result.exit_code == 2
