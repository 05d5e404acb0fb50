"""GET /v1/me/matches: the user's matches, best first, each with its event, components,
distance and the explanation (the API's, with the distance in front).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from litestar import Controller, get
from litestar.params import QueryParameter

from services.api.auth import CallerDep, profile_only
from services.api.responses import problems
from shared.db.events import event_from_row
from shared.db.matches import list_for_profile
from shared.explanations import api_explanation
from shared.http.cursor import Cursor, bigint, decode_cursor, encode_cursor, finite_float
from shared.http.deps import PoolDep
from shared.models.common import Base, Page
from shared.models.events import Event
from shared.together import TOGETHER_WORDS, together_events


class Components(Base):
    distance: float
    interest: float
    comfort: float
    support: float | None  # null when not counted (nothing sought, or nothing declared)


class Match(Base):
    event: Event
    score: float
    components: Components
    distance_km: float | None
    together: bool  # a together match: your trusted person's too, at a time free for both
    explanation: str


def _decode_cursor(cursor: str | None) -> tuple[float, int] | None:
    parts = decode_cursor(cursor, finite_float, bigint)
    return None if parts is None else (parts[0], parts[1])


class MatchesController(Controller):
    path = "/v1/me/matches"
    tags = ["me"]
    guards = [profile_only]

    @get("/", responses=problems(401, 403, 422), summary="Your matches, best first")
    async def list_matches(
        self,
        caller: CallerDep,
        pool: PoolDep,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 50,
        cursor: Cursor = None,
    ) -> Page[Match]:
        """Cancelled events stay listed (with their status) until they are over."""
        assert caller.id is not None
        async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            together = await together_events(conn, caller.id, datetime.now(UTC))
            rows = await list_for_profile(
                conn, caller.id, _decode_cursor(cursor), limit + 1, together
            )
        items = [
            Match(
                event=event_from_row(event),
                # Stored as float4: shown to the precision it carries, not float4 noise.
                score=round(float(r["m_score"]), 4),
                components=Components(
                    distance=round(float(r["m_distance"]), 4),
                    interest=round(float(r["m_interest"]), 4),
                    comfort=round(float(r["m_comfort"]), 4),
                    support=None if r["m_support"] is None else round(float(r["m_support"]), 4),
                ),
                distance_km=(
                    None if r["m_distance_km"] is None else round(float(r["m_distance_km"]), 2)
                ),
                together=r["m_together"],
                explanation=api_explanation(
                    r["m_explanation"], r["m_distance_km"], r["m_seeking"], event["support"]
                )
                + (f" · {TOGETHER_WORDS}" if r["m_together"] else ""),
            )
            for event, r in rows[:limit]
        ]
        last = rows[limit - 1][1] if len(rows) > limit else None
        return Page(
            items=items,
            next=None if last is None else encode_cursor(repr(last["m_score"]), last["id"]),
        )
