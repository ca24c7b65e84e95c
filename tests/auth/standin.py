"""The Keycloak stand-in (``kc/kc-standin.mjs``, oidc-provider with Keycloak's URL layout) for the auth tests.

``KeycloakStandIn(port, key_file).start()`` runs it on a fixed port (so a test can stop it and start it
again where the API expects it); its npm packages are installed from ``kc/package-lock.json`` with
``npm ci`` when missing (``make test`` does the same). ``mint()`` signs tokens with the realm's own key.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support._proc import free_port, terminate_process

__all__ = ["KC_DIR", "KeycloakStandIn", "RealmKey", "ensure_npm_packages"]

KC_DIR = Path(__file__).parent / "kc"
REALM = "spt"
USERS = {
    "alice": "5d0c8f4e-6b1a-4c41-9d2e-1a7f3c0b9e11",
    "bob": "8e2b7a90-3f4d-4e6a-b1c2-9d8f7e6a5b44",
    "carol": "c3a1d2e4-5f60-4718-8a9b-0c1d2e3f4a55",
    "admin": "ad0d1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e66",
}


def ensure_npm_packages() -> None:
    """``npm ci`` in kc/ when its node_modules is missing (the lock file is committed, node_modules is not)."""
    if (KC_DIR / "node_modules" / "oidc-provider").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("the auth tests need Node.js and npm (the OIDC stand-in)")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=KC_DIR, check=True, capture_output=True, timeout=300)


class RealmKey:
    """An RSA key the stand-in signs with (``KC_KEY_FILE``), so tests can mint tokens with it."""

    def __init__(self, path: Path, kid: str = "test-realm-key") -> None:
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private))
        path.write_text(json.dumps({**jwk, "kid": kid}))
        self.path = path


class KeycloakStandIn:
    def __init__(self, key: RealmKey, port: int | None = None, audience: str = "spt-api") -> None:
        self.key = key
        self.port = port or free_port()
        self.audience = audience
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return f"{self.url}/realms/{REALM}"

    def start(self) -> KeycloakStandIn:
        ensure_npm_packages()
        env = {**os.environ, "KC_KEY_FILE": str(self.key.path), "KC_AUDIENCE": self.audience}
        self.proc = subprocess.Popen(
            ["node", str(KC_DIR / "kc-standin.mjs"), str(self.port), REALM],
            cwd=KC_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # "READY http://127.0.0.1:PORT/ realm=spt", or EOF if it died
        if not line.startswith("READY"):
            terminate_process(self.proc)
            raise RuntimeError(f"the Keycloak stand-in did not start: {line!r}")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            terminate_process(self.proc, timeout=5)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None

    # -- tokens -----------------------------------------------------------------------------------

    def password_token(self, user: str, client_id: str = "spt-api", secret: str = "spt-api-secret") -> dict[str, Any]:
        """A token response (access, refresh, ID token) for ``user`` by the password grant."""
        response = httpx.post(
            f"{self.issuer}/protocol/openid-connect/token",
            data={"grant_type": "password", "username": user, "password": f"{user}-pw", "client_id": client_id,
                  "client_secret": secret, "scope": "openid"},
        )
        response.raise_for_status()
        tokens: dict[str, Any] = response.json()
        return tokens

    def access_token(self, user: str) -> str:
        return str(self.password_token(user)["access_token"])

    def claims(self, user: str = "alice", **overrides: Any) -> dict[str, Any]:
        """The claims of an access token as the realm issues them, changed by ``overrides``."""
        now = int(time.time())
        roles = {"alice": ["spt-user"], "bob": ["spt-user"], "carol": [], "admin": ["spt-user", "spt-admin"]}[user]
        claims = {
            "iss": self.issuer, "aud": self.audience, "sub": USERS[user], "azp": "spt-api", "typ": "Bearer",
            "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex, "preferred_username": user,
            "realm_access": {"roles": roles}, "scope": "openid profile email",
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def mint(self, claims: dict[str, Any], *, key: Any = None, kid: str | None = None,
             algorithm: str = "RS256") -> str:
        """A token signed with the realm's key (or ``key``), under key id ``kid`` (the realm's by default)."""
        return jwt.encode(claims, key if key is not None else self.key.private, algorithm=algorithm,
                          headers={"kid": kid or self.key.kid})

    def stats(self) -> dict[str, int]:
        stats: dict[str, int] = httpx.get(f"{self.issuer}/_test/stats").json()
        return stats

    def rotate(self) -> str:
        kid: str = httpx.post(f"{self.issuer}/_test/rotate").json()["kid"]
        return kid
