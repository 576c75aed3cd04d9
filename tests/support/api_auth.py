"""Credentials for the API service's tests: an issuer with keys generated per test session
(RSA, EC, Ed25519), its JWKS, tokens good and bad, and API keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from gruponos.adapters.api_settings import ApiKeySettings
from gruponos.entrypoints.api.auth import new_api_key

ISSUER = "https://idp.example.test/realms/wms"
AUDIENCE = "gruponos-api"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _public_jwk(key: Any, kid: str, alg: str) -> dict[str, Any]:
    algorithm = jwt.get_algorithm_by_name(alg)
    data: dict[str, Any] = json.loads(algorithm.to_jwk(key.public_key()))
    return {**data, "kid": kid, "alg": alg, "use": "sig"}


@dataclass
class Issuer:
    """An OIDC issuer's signing keys: ``k1`` (RS256), ``e1`` (ES256), ``d1`` (EdDSA); and a
    key of nobody's (``rogue``) for bad signatures."""

    rsa: Any = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    ec: Any = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    ed: Any = field(default_factory=ed25519.Ed25519PrivateKey.generate)
    rogue: Any = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))

    def jwks(self, *, only: tuple[str, ...] | None = None) -> dict[str, Any]:
        keys = [
            _public_jwk(self.rsa, "k1", "RS256"),
            _public_jwk(self.ec, "e1", "ES256"),
            _public_jwk(self.ed, "d1", "EdDSA"),
        ]
        return {"keys": [k for k in keys if only is None or k["kid"] in only]}

    def write_jwks(self, path: Path) -> Path:
        path.write_text(json.dumps(self.jwks()), encoding="utf-8")
        return path

    def claims(self, roles: Any = ("viewer",), **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": [AUDIENCE, "account"],
            "sub": "alice",
            "iat": now,
            "nbf": now - 5,
            "exp": now + 300,
            "roles": list(roles) if not isinstance(roles, str) else roles,
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(
        self,
        roles: Any = ("viewer",),
        *,
        kid: str = "k1",
        key: Any = None,
        alg: str = "RS256",
        **overrides: Any,
    ) -> str:
        keys = {"k1": self.rsa, "e1": self.ec, "d1": self.ed}
        signing = key if key is not None else keys.get(kid, self.rogue)
        return jwt.encode(
            self.claims(roles, **overrides), signing, algorithm=alg, headers={"kid": kid}
        )

    def unsigned(self, roles: Any = ("admin",)) -> str:
        """``alg: none``: no signature at all."""
        header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "k1"}).encode())
        body = _b64(json.dumps(self.claims(roles)).encode())
        return f"{header}.{body}."

    def hs256_with_public_key(self, roles: Any = ("admin",)) -> str:
        """The classic confusion attack: HMAC-signed with the RSA public key as the secret."""
        secret = self.rsa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
        body = _b64(json.dumps(self.claims(roles)).encode())
        signature = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
        return f"{header}.{body}.{_b64(signature)}"


@dataclass(frozen=True)
class ApiKey:
    secret: str
    entry: ApiKeySettings


def api_key(name: str, role: str, *, revoked: bool = False) -> ApiKey:
    secret, digest = new_api_key()
    return ApiKey(secret, ApiKeySettings(name=name, role=role, sha256=digest, revoked=revoked))
