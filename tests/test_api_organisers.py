"""Admins create, list and revoke organisers; the key is shown once and stored hashed."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from services.cli import main
from shared.crypto import token_hash
from shared.settings import Settings
from tests.conftest import ADMIN_KEY, SECRET_KEY
from tests.factories import bearer, create_organiser, event_body

ORG = {"name": "Stadtbibliothek Mitte", "contact_email": "events@library.example"}


def is_problem(response: Any) -> bool:
    return str(response.headers["content-type"]).startswith("application/problem+json")


async def test_create_shows_the_key_once_and_stores_only_its_hash(
    api: AsyncTestClient[Any], admin_headers: dict[str, str], pool: asyncpg.Pool
) -> None:
    response = await api.post("/v1/admin/organisers", json=ORG, headers=admin_headers)
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "name", "contact_email", "created_at", "api_key"}
    assert (body["name"], body["contact_email"]) == (ORG["name"], ORG["contact_email"])
    key = body["api_key"]
    assert key.startswith("lk_org_") and len(key) > 30
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM organisers WHERE id = $1", body["id"])
    assert row["key_hash"] == token_hash(SECRET_KEY, key, purpose="organiser")
    assert key not in repr(dict(row))
    # The key works on the API; listing never shows it again.
    assert (await api.post("/v1/events", json=event_body(), headers=bearer(key))).status_code == 201
    listed = (await api.get("/v1/admin/organisers", headers=admin_headers)).json()
    assert "api_key" not in listed["items"][0] and key not in str(listed)


async def test_list_is_paged_oldest_first(
    api: AsyncTestClient[Any], admin_headers: dict[str, str]
) -> None:
    ids = [(await create_organiser(api, admin_headers))[0] for _ in range(5)]
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        response = await api.get("/v1/admin/organisers", params=params, headers=admin_headers)
        assert response.status_code == 200
        page = response.json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == ids and pages == 3


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"cursor": "not-a-cursor!"}])
async def test_bad_list_parameters_are_422(
    api: AsyncTestClient[Any], admin_headers: dict[str, str], params: dict[str, Any]
) -> None:
    response = await api.get("/v1/admin/organisers", params=params, headers=admin_headers)
    assert response.status_code == 422 and is_problem(response)


async def test_revoked_key_gets_401_and_list_shows_revoked_at(
    api: AsyncTestClient[Any], admin_headers: dict[str, str]
) -> None:
    org_id, key = await create_organiser(api, admin_headers)
    response = await api.delete(f"/v1/admin/organisers/{org_id}", headers=admin_headers)
    assert response.status_code == 204
    refused = await api.post("/v1/events", json=event_body(), headers=bearer(key))
    assert refused.status_code == 401 and is_problem(refused)
    items = (await api.get("/v1/admin/organisers", headers=admin_headers)).json()["items"]
    assert items[0]["revoked_at"] is not None
    # Revoking again is still 204; an unknown organiser is 404.
    again = await api.delete(f"/v1/admin/organisers/{org_id}", headers=admin_headers)
    assert again.status_code == 204
    missing = await api.delete("/v1/admin/organisers/999999", headers=admin_headers)
    assert missing.status_code == 404 and is_problem(missing)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": "", "contact_email": "a@b.org"}, "name"),
        ({"name": "X", "contact_email": "not-an-email"}, "contact_email"),
        ({"name": "X"}, "contact_email"),
        ({"name": "X", "contact_email": "a@b.org", "api_key": "mine"}, "api_key"),
    ],
)
async def test_bad_organiser_is_422_naming_the_field(
    api: AsyncTestClient[Any], admin_headers: dict[str, str], body: dict[str, Any], field: str
) -> None:
    response = await api.post("/v1/admin/organisers", json=body, headers=admin_headers)
    assert response.status_code == 422 and is_problem(response)
    assert field in response.json()["detail"]


async def test_admin_calls_need_the_admin_key(
    api: AsyncTestClient[Any], admin_headers: dict[str, str]
) -> None:
    org_id, key = await create_organiser(api, admin_headers)
    calls = [
        ("POST", "/v1/admin/organisers", ORG),
        ("GET", "/v1/admin/organisers", None),
        ("DELETE", f"/v1/admin/organisers/{org_id}", None),
    ]
    for method, path, body in calls:
        as_organiser = await api.request(method, path, json=body, headers=bearer(key))
        assert as_organiser.status_code == 403 and is_problem(as_organiser), path
        anonymous = await api.request(method, path, json=body)
        assert anonymous.status_code == 401 and is_problem(anonymous), path
        unknown = await api.request(method, path, json=body, headers=bearer("lk_org_nope"))
        assert unknown.status_code == 401, path


async def test_cli_creates_an_organiser_whose_key_works(
    api: AsyncTestClient[Any], settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert settings.database_url and settings.redis_url
    env = {
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "LOWKEY_SECRET_KEY": SECRET_KEY,
        "LOWKEY_ADMIN_KEY": ADMIN_KEY,
        "LOWKEY_LOG_LEVEL": "warning",
    }
    args = ["create-organiser", "Walking Group", "--email", "walks@example.org"]
    code = await asyncio.to_thread(main, args, env)
    assert code == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "Walking Group" in line
    key = line.rsplit(" ", 1)[1]
    assert key.startswith("lk_org_")
    response = await api.post("/v1/events", json=event_body(), headers=bearer(key))
    assert response.status_code == 201, response.text


async def test_cli_without_secret_key_refuses(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert settings.database_url
    env = {"DATABASE_URL": settings.database_url}
    code = await asyncio.to_thread(main, ["create-organiser", "X", "--email", "x@y.org"], env)
    assert code == 1
    assert "LOWKEY_SECRET_KEY" in capsys.readouterr().err


async def test_a_retried_create_returns_the_same_organiser_and_key(
    api: AsyncTestClient[Any], admin_headers: dict[str, str], pool: asyncpg.Pool
) -> None:
    headers = admin_headers | {"Idempotency-Key": "org-retry-1"}
    first = await api.post("/v1/admin/organisers", json=ORG, headers=headers)
    retry = await api.post("/v1/admin/organisers", json=ORG, headers=headers)
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM organisers") == 1
