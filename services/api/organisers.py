"""Admin calls on organisers (create with a key shown once, list, revoke), and the same
create for `lowkey create-organiser`.
"""

from __future__ import annotations

from typing import Annotated

import asyncpg
import msgspec
from litestar import Controller, delete, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from services.api.auth import admin_only
from services.api.responses import NO_STORE, IdempotencyKey, problems
from shared.db.organisers import insert_organiser, list_organisers, revoke_organiser
from shared.db.pool import create_pool
from shared.http.cursor import Cursor, bigint, decode_cursor, encode_cursor, tag
from shared.http.deps import PoolDep, SettingsDep
from shared.http.problems import NotFound
from shared.models.common import Page
from shared.models.organisers import Organiser, OrganiserCreate, OrganiserCreated
from shared.settings import Settings
from shared.tokens import issue_organiser_key


async def create_organiser(
    conn: asyncpg.Connection, settings: Settings, data: OrganiserCreate
) -> OrganiserCreated:
    """A new organiser; its key is returned here and stored only as a keyed hash."""
    assert settings.secret_key is not None
    issued = issue_organiser_key(settings.secret_key)
    org = await insert_organiser(conn, data.name, data.contact_email, issued.hash)
    return OrganiserCreated(
        id=org.id,
        name=org.name,
        contact_email=org.contact_email,
        created_at=org.created_at,
        api_key=issued.key,
    )


async def create_organiser_cli(settings: Settings, name: str, email: str) -> str:
    """`lowkey create-organiser NAME --email E`: one printable line with the key."""
    try:
        data = msgspec.convert({"name": name, "contact_email": email}, OrganiserCreate)
    except msgspec.ValidationError as exc:
        raise SystemExit(f"lowkey: {exc}") from None
    assert settings.database_url is not None
    pool = await create_pool(settings.database_url, max_size=1)
    try:
        async with pool.acquire() as conn, conn.transaction():
            created = await create_organiser(conn, settings, data)
    finally:
        await pool.close()
    return (
        f"organiser {created.id} ({created.name}) created; API key (shown once): {created.api_key}"
    )


def _cursor(last_id: int) -> str:
    return encode_cursor("o", last_id)


def _after_id(cursor: str | None) -> int:
    parts = decode_cursor(cursor, tag("o"), bigint)
    return 0 if parts is None else int(parts[1])


class AdminOrganisersController(Controller):
    path = "/v1/admin/organisers"
    guards = [admin_only]
    tags = ["admin"]

    @post(
        "/",
        status_code=201,
        cache_control=NO_STORE,
        responses=problems(400, 401, 403, 413, 422, post=True),
    )
    async def create(
        self,
        data: JSONBody[OrganiserCreate],
        settings: SettingsDep,
        pool: PoolDep,
        idempotency_key: IdempotencyKey = None,
    ) -> OrganiserCreated:
        """Create an organiser; `api_key` is shown in this answer only."""
        async with pool.acquire() as conn, conn.transaction():
            return await create_organiser(conn, settings, data)

    @get("/", responses=problems(401, 403, 422))
    async def list_all(
        self,
        pool: PoolDep,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 50,
        cursor: Cursor = None,
    ) -> Page[Organiser]:
        """Organisers, oldest first (never their keys); revoked ones carry `revoked_at`."""
        async with pool.acquire() as conn:
            rows = await list_organisers(conn, _after_id(cursor), limit + 1)
        items = rows[:limit]
        return Page(items=items, next=_cursor(items[-1].id) if len(rows) > limit else None)

    @delete("/{organiser_id:int}", status_code=204, responses=problems(401, 403, 404))
    async def revoke(self, organiser_id: FromPath[int], pool: PoolDep) -> None:
        """Revoke the organiser's key (its events stay); revoking again is still 204."""
        async with pool.acquire() as conn, conn.transaction():
            if not await revoke_organiser(conn, organiser_id):
                raise NotFound(f"no organiser {organiser_id}")
