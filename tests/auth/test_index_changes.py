"""With login on, indexes are shared: every user may read them, only an admin changes one."""

from __future__ import annotations

import httpx

from tests.auth.conftest import bearer
from tests.auth.standin import KeycloakStandIn

JSON = {"Accept": "application/json"}


def test_a_user_reads_indexes_but_only_an_admin_changes_one(http: httpx.Client, keycloak: KeycloakStandIn) -> None:
    alice = {**JSON, **bearer(keycloak.access_token("alice"))}
    admin = {**JSON, **bearer(keycloak.access_token("admin"))}
    assert http.get("/api/indexes", headers=alice).status_code == 200
    changes = [
        ("DELETE", "/api/indexes/nope", {}),
        ("POST", "/api/indexes/nope/vectors", {"vectors": "datasets/v.npy", "ids": "1"}),
        ("POST", "/api/indexes/nope/delete", {"ids": "1,2"}),
    ]
    for method, url, data in changes:
        refused = http.request(method, url, headers=alice, data=data or None)
        assert refused.status_code == 403, (url, refused.text)
        assert refused.json()["message"] == "changing an index (adding, deleting, dropping) needs the admin role"
        # The admin gets past the check to the index itself, which does not exist.
        assert http.request(method, url, headers=admin, data=data or None).status_code == 404, url
    assert http.delete("/api/indexes/nope", headers=JSON).status_code == 401
