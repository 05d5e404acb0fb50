"""The OpenAPI schema tells the truth: schemathesis drives the live in-process API.

Seeded and bounded; every operation is called as the caller it is meant for (admin key,
organiser key, profile token), with all of schemathesis's checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import hypothesis
import msgspec
import pytest
import schemathesis
from schemathesis.python.asgi import get_client

from services.api.app import create_app
from shared.settings import Settings
from tests.conftest import ADMIN_KEY
from tests.factories import event_body
from tests.test_api_profiles import profile_body


@pytest.fixture(scope="module")
def lowkey_app(settings: Settings) -> Any:
    # Far past any rate limit: the checks are about the schema, not the limits.
    return create_app(msgspec.structs.replace(settings, profile_rate_limit=10**9))


@pytest.fixture(scope="module")
def client(lowkey_app: Any) -> Iterator[Any]:
    """A requests-style session into the app, run in schemathesis's own event loop thread."""
    with get_client(lowkey_app) as session:
        yield session


@pytest.fixture(scope="module")
def keys(client: Any) -> dict[str, str]:
    """An organiser key (with one event) and a profile token, made through the API."""
    if True:
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        org = client.post(
            "/v1/admin/organisers",
            json={"name": "Schema check", "contact_email": "s@example.org"},
            headers=admin,
        )
        assert org.status_code == 201, org.text
        organiser = org.json()["api_key"]
        event = client.post(
            "/v1/events", json=event_body(), headers={"Authorization": f"Bearer {organiser}"}
        )
        assert event.status_code == 201, event.text
        profile = client.post("/v1/profiles", json=profile_body())
        assert profile.status_code == 201, profile.text
    return {"admin": ADMIN_KEY, "organiser": organiser, "profile": profile.json()["token"]}


# The schema is what the app publishes; building it needs no database. (The lazy
# `from_fixture` loader does not work with pytest 9, so it is loaded at import.)
_schema_app = create_app(Settings(secret_key="s" * 32, admin_key="a" * 32))
schema = schemathesis.openapi.from_dict(_schema_app.openapi_schema.to_schema())
BASE_URL = "http://testserver"


# Known mismatches, each with the reason; the operation is marked xfail (not strict) so it
# is still run and reported. Remove an entry when its cause is fixed.
ALLOW_BUG = "Litestar's automatic OPTIONS lists only one handler's methods in Allow (ST205)"
CROSS_FIELD = "schema-valid body broken by a cross-field rule the schema cannot say (ST202)"
EMPTY_CURSOR = "an empty `cursor=` fits the schema but is refused (ST202)"
LAX_BODIES = "Litestar decodes bodies in msgspec's lax mode: 0 is taken as false (ST201)"
KNOWN_FAILURES = {
    ("POST", "/v1/profiles"): LAX_BODIES,
    ("GET", "/v1/me"): ALLOW_BUG,
    ("POST", "/v1/me/hidden/{event_id}"): ALLOW_BUG,
    ("GET", "/v1/events/{event_id}"): ALLOW_BUG,
    ("GET", "/v1/admin/weights"): ALLOW_BUG,
    ("GET", "/v1/me/matches"): EMPTY_CURSOR,
    ("GET", "/v1/admin/organisers"): EMPTY_CURSOR,
    ("GET", "/v1/admin/weights/history"): EMPTY_CURSOR,
    ("GET", "/v1/events"): "empty `from=` and radius_km beyond the limit fit the schema (ST202)",
    ("POST", "/v1/events"): CROSS_FIELD + ": ends_at must be after starts_at",
    ("PATCH", "/v1/events/{event_id}"): CROSS_FIELD + ": ends_at must be after starts_at",
    ("POST", "/v1/admin/organisers"): "body schema allows what the API refuses (ST202)",
    ("PUT", "/v1/admin/weights"): CROSS_FIELD + ": weights not all 0; tiny floats",
    ("POST", "/v1/admin/weights/preview"): CROSS_FIELD + ": weights not all 0; tiny floats",
}


def key_for(method: str, path: str, keys: dict[str, str]) -> str | None:
    if path.startswith("/v1/admin"):
        return keys["admin"]
    if path.startswith("/v1/me"):
        return keys["profile"]
    if path.startswith("/v1/events") and method != "GET":
        return keys["organiser"]
    return None


@schema.parametrize()
@hypothesis.settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_api_matches_its_schema(
    case: Any, client: Any, keys: dict[str, str], request: pytest.FixtureRequest
) -> None:
    reason = KNOWN_FAILURES.get((case.operation.method.upper(), case.operation.path))
    if reason:
        request.node.add_marker(pytest.mark.xfail(reason=reason, strict=False))
    if case.path == "/v1/me" and case.method == "DELETE":
        pytest.skip("erasing the shared profile would end every later /v1/me check")
    token = key_for(case.method, case.path, keys)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    case.call_and_validate(base_url=BASE_URL, session=client, headers=headers)
