"""/v1/me/checkins: how an ended occurrence went, and, with the user's consent, the graded
steps the answers take (shared.checkins holds the rules). Also what a PATCH of /v1/me
does to them: a change of level starts the count again, and some PATCHes end a pause.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from litestar import Controller, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody, QueryParameter

from services.api.auth import CallerDep, profile_only
from services.api.profiles import enqueue_profile
from services.api.ratelimit import me_write_limit
from services.api.responses import IdempotencyKey, problems
from shared import checkins as rules
from shared import timeutil
from shared.db import checkins as db
from shared.db.outbox import add_outbox
from shared.http.cursor import Cursor, aware_datetime, bigint, decode_cursor, encode_cursor
from shared.http.deps import PoolDep, QueueDep, SettingsDep
from shared.http.problems import Invalid, Unauthorized
from shared.models.checkins import Checkin, CheckinCreate
from shared.models.common import Page
from shared.models.profiles import Profile, ProfileUpdate

NEVER_MATCHED = "was not among your suggestions when it started, so there is nothing to answer"


async def after_profile_patch(
    conn: asyncpg.Connection, profile_id: int, before: Profile, update: ProfileUpdate
) -> None:
    """In the PATCH's transaction: a change of level, or consent given, starts the count
    again; naming open_to_stretch or comfort_level, or turning adapt_comfort off, ends a
    running stretch pause (the PATCH itself re-scores the profile)."""
    given = update.given()
    level_changed = given.get("comfort_level", before.comfort_level) != before.comfort_level
    consent = given.get("adapt_comfort", before.adapt_comfort)
    if level_changed or (consent and not before.adapt_comfort):
        await db.restart_count(conn, profile_id)
    if "comfort_level" in given or "open_to_stretch" in given or not consent:
        await db.end_pause(conn, profile_id)


async def _adapt(
    conn: asyncpg.Connection, profile_id: int, state: db.ProfileState, checkin_id: int
) -> bool:
    """Apply the rules to a new or changed answer; True when something moved."""
    counted = await db.counted_answers(conn, profile_id, state.count_from)
    latest = next((a for a in counted if a.id == checkin_id), None)
    if latest is None:  # didnt_go, or about an occurrence before the count began
        return False
    outcome = rules.adapt(counted, latest, state.comfort_level, datetime.now(UTC))
    if outcome.pause is not None:
        await db.apply_pause(conn, profile_id, state.comfort_level, outcome.pause)
    if outcome.change is not None:
        await db.apply_level(conn, profile_id, state.comfort_level, outcome.change)
    return outcome != rules.NOTHING


class CheckinsController(Controller):
    path = "/v1/me/checkins"
    tags = ["me"]
    guards = [profile_only]

    @post(
        "/",
        status_code=201,
        guards=[me_write_limit],
        responses={
            200: ResponseSpec(data_container=Checkin, description="The answer replaced"),
            **problems(400, 401, 403, 413, 422, 429, post=True),
        },
        summary="Say how an ended occurrence went (again replaces the answer: 200)",
    )
    async def answer(
        self,
        data: JSONBody[CheckinCreate],
        caller: CallerDep,
        settings: SettingsDep,
        pool: PoolDep,
        queue: QueueDep,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[Checkin]:
        pid = caller.id
        assert pid is not None
        try:
            local = timeutil.parse_local(data.occurrence)
        except ValueError as exc:
            raise Invalid.field("occurrence", str(exc)) from None
        now = datetime.now(UTC)
        moved = False
        async with pool.acquire() as conn, conn.transaction():
            state = await db.lock_state(conn, pid)
            if state is None:
                raise Unauthorized("the Bearer key is not known")
            event = await db.event_times(conn, data.event_id)
            if event is None:
                raise Invalid.field("event_id", "is not an event lowkey knows")
            occurrence = rules.occurrence_of(*event, local, now)
            refusal = rules.answer_refusal(occurrence, now)
            if refusal is not None:
                raise Invalid.field("occurrence", refusal)
            assert occurrence is not None
            record = await db.match_record(conn, pid, event.id, local)
            if record is None:
                raise Invalid.field("occurrence", NEVER_MATCHED)
            checkin_id, previous = await db.save_answer(
                conn, pid, event.id, local, occurrence.start, data.answer, record
            )
            if state.adapt_comfort and previous != data.answer:
                moved = await _adapt(conn, pid, state, checkin_id)
            outbox_id = await add_outbox(conn, "profile", pid) if moved else None
            saved = await db.read_checkin(conn, checkin_id)
        if outbox_id is not None:
            await enqueue_profile(pool, queue, settings, outbox_id, pid)
        return Response(saved, status_code=201 if previous is None else 200)

    @get("/", responses=problems(401, 403, 422), summary="Your check-ins, newest first")
    async def list_checkins(
        self,
        caller: CallerDep,
        pool: PoolDep,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 50,
        cursor: Cursor = None,
    ) -> Page[Checkin]:
        assert caller.id is not None
        parts: Any = decode_cursor(cursor, aware_datetime, bigint)
        async with pool.acquire() as conn:
            rows = await db.list_checkins(conn, caller.id, parts, limit + 1)
        last = rows[limit - 1] if len(rows) > limit else None
        return Page(
            items=[c for c, _ in rows[:limit]],
            next=None if last is None else encode_cursor(last[1].isoformat(), last[0].id),
        )
