"""Who is calling, and may they: bearer JWTs (OIDC) and API keys, mapped onto three roles.

JWTs: asymmetric algorithms only (RS256/384/512, ES256/384, EdDSA): ``none`` and HS* are
refused before any key is looked at, so a public key can never serve as an HMAC secret. Keys
come from a JWKS file, or a JWKS URL fetched with a timeout, cached, and fetched again once when
a token names an unknown ``kid``. ``iss`` must equal the configured issuer, ``aud`` contain the
audience; ``exp`` is required, ``exp``/``nbf`` are checked with the configured leeway (<= 60 s).
Roles come from a claim, by dotted path (``realm_access.roles`` for Keycloak).

API keys (``X-API-Key``): the settings hold a SHA-256 per key, compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from fastapi import Request

from gruponos.adapters.api_settings import ROLES, ApiSettings, Role
from gruponos.entrypoints.api.problems import ProblemError

#: The only algorithms accepted: asymmetric, so the verifying key cannot sign.
ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA")
_CHALLENGE = 'Bearer realm="gruponos", ApiKey realm="gruponos" header="X-API-Key"'


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: ``subject`` as recorded (``jwt:<sub>``, ``key:<name>``)."""

    subject: str
    role: Role

    def may(self, role: Role) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def unauthenticated(detail: str, *, invalid_token: bool = False) -> ProblemError:
    challenge = _CHALLENGE
    if invalid_token:
        challenge = 'Bearer realm="gruponos", error="invalid_token"'
    return ProblemError(401, detail, "auth.unauthenticated", {"WWW-Authenticate": challenge})


def new_api_key() -> tuple[str, str]:
    """A new key (shown once) and its SHA-256 (what the settings keep)."""
    key = "gnos_" + secrets.token_urlsafe(32)
    return key, key_hash(key)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class JwksKeys:
    """The issuer's signing keys by ``kid``: from a file (read once) or a URL (cached for
    ``cache_seconds``; an unknown ``kid`` fetches again, at most once every 10 seconds)."""

    REFETCH_SECONDS = 10.0

    def __init__(self, settings: ApiSettings, now: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        self._now = now
        self._mutex = threading.Lock()
        self._keys: dict[str, tuple[jwt.PyJWK, str | None]] = {}  # kid -> key, its "alg"
        self._fetched_at: float | None = None

    def get(self, kid: str | None) -> tuple[jwt.PyJWK, str | None] | None:
        with self._mutex:
            if self._fetched_at is None or self._stale():
                self._load()
            found = self._find(kid)
            if found is None and self._settings.jwks_url and self._may_refetch():
                self._load()
                found = self._find(kid)
            return found

    def _find(self, kid: str | None) -> tuple[jwt.PyJWK, str | None] | None:
        if kid is None:  # only a JWKS of one key may sign tokens without a kid
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    def _stale(self) -> bool:
        age = self._now() - (self._fetched_at or 0.0)
        return bool(self._settings.jwks_url) and age >= self._settings.jwks_cache_seconds

    def _may_refetch(self) -> bool:
        return self._now() - (self._fetched_at or 0.0) >= self.REFETCH_SECONDS

    def _load(self) -> None:
        self._fetched_at = self._now()
        try:
            document = self._document()
            keys = {}
            for data in document.get("keys", []):
                try:
                    key = jwt.PyJWK(data)
                except jwt.PyJWTError:
                    continue  # a key of a type or use we cannot verify with: ignored
                if data.get("use", "sig") == "sig":
                    keys[str(data.get("kid", ""))] = (key, data.get("alg"))
            self._keys = keys
        except (OSError, ValueError, httpx.HTTPError):
            pass  # keep the keys we had; tokens signed by unknown keys stay refused

    def _document(self) -> dict[str, Any]:
        settings = self._settings
        if settings.jwks_file is not None:
            text = settings.jwks_file.read_text(encoding="utf-8")
        else:
            response = httpx.get(
                str(settings.jwks_url),
                timeout=settings.jwks_timeout_seconds,
                follow_redirects=False,
            )
            response.raise_for_status()
            text = response.text
        document = json.loads(text)
        if not isinstance(document, dict):
            raise ValueError("a JWKS is a JSON object")
        return document


class Authenticator:
    """Turns a request's credentials into a :class:`Principal`, or a 401 problem."""

    def __init__(self, settings: ApiSettings, *, insecure_dev: bool = False) -> None:
        self._settings = settings
        self._insecure_dev = insecure_dev
        self._jwks = JwksKeys(settings) if settings.jwt_enabled else None

    def __call__(self, request: Request) -> Principal:
        header = request.headers.get("authorization")
        api_key = request.headers.get("x-api-key")
        if header is not None:
            return self._bearer(header)
        if api_key is not None:
            return self._api_key(api_key)
        if self._insecure_dev:
            return Principal("dev:insecure", "admin")
        raise unauthenticated("credentials needed: a bearer token or an X-API-Key")

    def _api_key(self, key: str) -> Principal:
        digest = key_hash(key)
        for configured in self._settings.keys:
            if hmac.compare_digest(digest, configured.sha256):
                if configured.revoked:
                    break
                return Principal(f"key:{configured.name}", configured.role)
        raise unauthenticated("unknown or revoked API key")

    def _bearer(self, header: str) -> Principal:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthenticated("the Authorization header must be 'Bearer <token>'")
        if self._jwks is None:
            raise unauthenticated("bearer tokens are not accepted here", invalid_token=True)
        claims = self._claims(token.strip(), self._jwks)
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise unauthenticated("the token has no subject", invalid_token=True)
        role = _highest(_claim(claims, self._settings.roles_claim))
        if role is None:
            raise ProblemError(403, "the token carries no gruponos role", "auth.no_role")
        return Principal(f"jwt:{subject}", role)

    def _claims(self, token: str, keys: JwksKeys) -> dict[str, Any]:
        settings = self._settings
        try:
            header = jwt.get_unverified_header(token)
            algorithm = header.get("alg")
            if algorithm not in ALGORITHMS:
                raise unauthenticated(
                    f"algorithm {str(algorithm)[:20]!r} is not accepted", invalid_token=True
                )
            found = keys.get(header.get("kid"))
            if found is None:
                raise unauthenticated("the token's signing key is unknown", invalid_token=True)
            key, key_algorithm = found
            if key_algorithm is not None and key_algorithm != algorithm:
                raise unauthenticated(
                    "the token's algorithm does not fit its key", invalid_token=True
                )
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=[algorithm],
                audience=settings.audience,
                issuer=settings.issuer,
                leeway=settings.leeway_seconds,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise unauthenticated("the token has expired", invalid_token=True) from None
        except jwt.ImmatureSignatureError:
            raise unauthenticated("the token is not valid yet", invalid_token=True) from None
        except jwt.InvalidIssuerError:
            raise unauthenticated(
                "the token's issuer is not accepted", invalid_token=True
            ) from None
        except jwt.InvalidAudienceError:
            raise unauthenticated(
                "the token's audience is not accepted", invalid_token=True
            ) from None
        except jwt.PyJWTError:
            raise unauthenticated("the token is not valid", invalid_token=True) from None
        return claims


def _claim(claims: dict[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _highest(value: Any) -> Role | None:
    names = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    held = [role for role in ROLES if role in names]
    return held[-1] if held else None
