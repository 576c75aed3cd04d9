"""Every route x every kind of credential: the exact status (issue 16's matrix).

Keys are generated for the test session (RSA, EC, Ed25519); tokens are signed here. Whatever
the answer, it is JSON or problem+json, carries no stack trace and none of the configured
secrets, and a 401 says how to authenticate (``WWW-Authenticate``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from gruponos.domain.checkpoints import SyncMode
from gruponos.domain.runs import SyncReport

from .conftest import Service

RUN_ID = "20260101T000000Z-seeded"

#: (method, path, JSON body, role needed (None: public), status when allowed)
ROUTES: list[tuple[str, str, object, str | None, int]] = [
    ("GET", "/healthz", None, None, 200),
    ("GET", "/readyz", None, None, 200),
    ("GET", "/openapi.json", None, None, 200),
    ("GET", "/metrics", None, "viewer", 200),
    ("GET", "/api/v1/pipelines", None, "viewer", 200),
    ("GET", "/api/v1/runs", None, "viewer", 200),
    ("GET", f"/api/v1/runs/{RUN_ID}", None, "viewer", 200),
    ("GET", "/api/v1/entities", None, "viewer", 200),
    ("GET", "/api/v1/entities/order_hdr/quarantine", None, "viewer", 200),
    ("GET", "/api/v1/state", None, "viewer", 200),
    ("POST", "/api/v1/runs", {"pipeline": "incremental"}, "operator", 202),
    ("POST", f"/api/v1/runs/{RUN_ID}/cancel", None, "operator", 202),
    ("POST", "/api/v1/entities/order_hdr/quarantine/replay", {"dry_run": True}, "operator", 200),
    ("DELETE", "/api/v1/state/full/order_hdr", None, "admin", 204),
    ("GET", "/api/v1/config", None, "admin", 200),
]
ROLES = ("viewer", "operator", "admin")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


#: credential name -> (headers from the service, the role it grants or None when refused)
CREDENTIALS: dict[str, tuple[Callable[[Service], dict[str, str]], str | None]] = {
    "none": (lambda s: {}, None),
    "malformed token": (lambda s: _bearer("not.a.jwt"), None),
    "not bearer": (lambda s: {"Authorization": "Basic dXNlcjpwYXNz"}, None),
    "expired": (lambda s: _bearer(s.issuer.token(("admin",), exp=int(time.time()) - 120)), None),
    "not yet valid": (
        lambda s: _bearer(s.issuer.token(("admin",), nbf=int(time.time()) + 120)),
        None,
    ),
    "wrong issuer": (lambda s: _bearer(s.issuer.token(("admin",), iss="https://evil.test")), None),
    "wrong audience": (lambda s: _bearer(s.issuer.token(("admin",), aud="someone-else")), None),
    "no exp": (lambda s: _bearer(s.issuer.token(("admin",), exp=None)), None),
    "bad signature": (lambda s: _bearer(s.issuer.token(("admin",), key=s.issuer.rogue)), None),
    "alg none": (lambda s: _bearer(s.issuer.unsigned()), None),
    "HS256 with the public key": (lambda s: _bearer(s.issuer.hs256_with_public_key()), None),
    "unknown kid": (lambda s: _bearer(s.issuer.token(("admin",), kid="zz")), None),
    "viewer (RS256)": (lambda s: _bearer(s.issuer.token(("viewer",))), "viewer"),
    "operator (ES256)": (
        lambda s: _bearer(s.issuer.token(("operator",), kid="e1", alg="ES256")),
        "operator",
    ),
    "admin (EdDSA)": (
        lambda s: _bearer(s.issuer.token(("viewer", "admin"), kid="d1", alg="EdDSA")),
        "admin",
    ),
    "valid API key": (lambda s: {"X-API-Key": s.keys["operator"].secret}, "operator"),
    "revoked API key": (lambda s: {"X-API-Key": s.keys["revoked"].secret}, None),
    "unknown API key": (lambda s: {"X-API-Key": "gnos_nobody"}, None),
}


def expected(needed: str | None, granted: str | None, allowed: int) -> int:
    if needed is None:
        return allowed
    if granted is None:
        return 401
    return allowed if ROLES.index(granted) >= ROLES.index(needed) else 403


@pytest.mark.parametrize("credential", list(CREDENTIALS))
def test_every_route_answers_each_credential_exactly(
    shared_service: Service, credential: str
) -> None:
    service = shared_service
    service.executor.submitted.clear()
    service.container.runs().record(
        SyncReport(RUN_ID, SyncMode.FULL, datetime(2026, 1, 1, tzinfo=UTC))
    )
    make, granted = CREDENTIALS[credential]
    headers = make(service)
    answers = {}
    for method, path, body, needed, allowed in ROUTES:
        response = service.client.request(method, path, json=body, headers=headers)
        answers[(method, path)] = response.status_code
        want = expected(needed, granted, allowed)
        assert response.status_code == want, (method, path, response.text)
        text = response.text
        assert "Traceback" not in text and 'File "' not in text
        assert not [s for s in service.secrets if s in text], (method, path)
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json"
            problem = response.json()
            assert problem["status"] == response.status_code and problem["title"]
        if response.status_code == 401:
            assert response.headers["www-authenticate"].startswith("Bearer")
    if granted in ("operator", "admin"):
        # the runs it started were handed to the executor, naming who asked
        subjects = {r.triggered_by for r in service.executor.submitted}
        assert subjects == {"key:ci-operator" if "key" in credential else "jwt:alice"}
    assert answers  # every route was asked


def test_a_token_without_a_gruponos_role_is_forbidden(service: Service) -> None:
    response = service.client.get(
        "/api/v1/runs", headers=_bearer(service.issuer.token(("offline_access",)))
    )
    assert response.status_code == 403


def test_roles_read_from_a_dotted_claim_path(service: Service) -> None:
    # Keycloak keeps realm roles in realm_access.roles; the default claim is "roles".
    token = service.issuer.token((), realm_access={"roles": ["admin"]})
    assert service.client.get("/api/v1/config", headers=_bearer(token)).status_code == 403
