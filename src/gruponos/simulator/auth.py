"""HTTP Basic and OAuth2 bearer authentication, with an IDCS-like token endpoint."""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

import orjson

from gruponos.simulator.api import Response, error_response
from gruponos.simulator.config import SimulatorConfig

TOKEN_PATH = "/oauth2/v1/token"  # noqa: S105 - a URL path, not a secret
SCOPE = "urn:resource:fusion:scm:logistics:wms:lgfapi/"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who made an authenticated request; ``token`` is set for bearer requests."""

    user: str
    token: str | None = None


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def _oauth_error(status: int, error: str, description: str) -> Response:
    body = orjson.dumps({"error": error, "error_description": description})
    return Response(status, body, {"Cache-Control": "no-store"})


class Authenticator:
    """Checks API credentials and issues bearer tokens that expire on ``clock`` (monotonic)."""

    def __init__(self, config: SimulatorConfig, clock: Callable[[], float] = time.monotonic):
        self._config = config
        self._clock = clock
        self._tokens: dict[str, float] = {}  # token -> expiry on self._clock
        self._lock = threading.Lock()
        self.issued = 0

    def authenticate(self, header: str | None) -> Principal | Response:
        """The caller, or the 401 to send back."""
        if not header:
            return self._unauthorized("Authentication credentials were not provided.")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            token = value.strip()
            with self._lock:
                expiry = self._tokens.get(token)
            if expiry is None or expiry <= self._clock():
                return self.token_expired()
            return Principal("bearer", token)
        creds = _basic(header)
        cfg = self._config
        if creds and _same(creds[0], cfg.username) and _same(creds[1], cfg.password):
            return Principal(creds[0])
        return self._unauthorized("Invalid username/password.")

    def token_expired(self) -> Response:
        return error_response(
            401,
            "NOT_AUTHENTICATED",
            "The access token is invalid or has expired.",
            {"detail": "invalid_token"},
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )

    def _unauthorized(self, message: str) -> Response:
        return error_response(
            401,
            "NOT_AUTHENTICATED",
            message,
            {"detail": message},
            {"WWW-Authenticate": 'Basic realm="lgfapi"'},
        )

    def revoke(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)

    def expire_all(self) -> None:
        """Every token issued so far is expired from now on."""
        with self._lock:
            self._tokens.clear()

    def issue(self, body: bytes, header: str | None) -> Response:
        """``POST /oauth2/v1/token`` (form-encoded), grants client_credentials and password."""
        try:
            form = {k: v[-1] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        except UnicodeDecodeError:
            return _oauth_error(400, "invalid_request", "The body must be form-encoded.")
        cfg = self._config
        client = _basic(header) if header else None
        if client is None and "client_id" in form:
            client = (form["client_id"], form.get("client_secret", ""))
        client_ok = (
            client is not None
            and _same(client[0], cfg.client_id)
            and _same(client[1], cfg.client_secret)
        )
        grant = form.get("grant_type")
        if grant == "client_credentials":
            if not client_ok:
                return _oauth_error(401, "invalid_client", "Client authentication failed.")
        elif grant == "password":
            if client is not None and not client_ok:
                return _oauth_error(401, "invalid_client", "Client authentication failed.")
            user_ok = _same(form.get("username", ""), cfg.username) and _same(
                form.get("password", ""), cfg.password
            )
            if not user_ok:
                return _oauth_error(401, "invalid_grant", "Invalid username or password.")
        else:
            return _oauth_error(400, "unsupported_grant_type", f"Unsupported grant: {grant}.")
        token = secrets.token_urlsafe(32)
        lifetime = cfg.token_lifetime_seconds
        with self._lock:
            self._tokens[token] = self._clock() + lifetime
            self.issued += 1
        body_out = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": int(lifetime),
            "scope": form.get("scope", SCOPE),
        }
        return Response(200, orjson.dumps(body_out), {"Cache-Control": "no-store"})
