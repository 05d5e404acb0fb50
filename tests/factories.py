"""Small factories for tests that need organisers and events (any test may import them)."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

_organisers = 0


async def create_organiser(
    api: AsyncTestClient[Any], admin_headers: dict[str, str], name: str | None = None
) -> tuple[int, str]:
    """A new organiser through the admin API: (id, api_key)."""
    global _organisers
    _organisers += 1
    body = {"name": name or f"Organiser {_organisers}", "contact_email": "host@example.org"}
    response = await api.post("/v1/admin/organisers", json=body, headers=admin_headers)
    assert response.status_code == 201, response.text
    created = response.json()
    return int(created["id"]), str(created["api_key"])


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def event_body(**overrides: Any) -> dict[str, Any]:
    """A valid in-person event (a quiet board-game night in Berlin); overrides replace keys."""
    body: dict[str, Any] = {
        "title": "Quiet board games",
        "description": "Small tables, simple games, a host who explains the rules.",
        "starts_at": "2030-12-01T19:00:00",
        "ends_at": "2030-12-01T21:00:00",
        "timezone": "Europe/Berlin",
        "format": "in_person",
        "venue": {
            "name": "Stadtbibliothek",
            "address": "Breite Str. 30, 10178 Berlin",
            "lat": 52.5145,
            "lon": 13.4016,
        },
        "tags": ["board-games"],
        "group_size": 8,
        "structure": "structured",
        "noise": "quiet",
        "talking_optional": True,
        "newcomer_support": True,
        "cost_cents": 0,
        "currency": "EUR",
        "accessibility": ["step_free"],
        "languages": ["de", "en"],
    }
    body.update(overrides)
    return body


async def post_event(api: AsyncTestClient[Any], key: str, **overrides: Any) -> dict[str, Any]:
    """POST an event_body(**overrides) as that organiser; the created event (asserts 201)."""
    response = await api.post("/v1/events", json=event_body(**overrides), headers=bearer(key))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created
