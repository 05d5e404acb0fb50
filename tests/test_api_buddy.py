"""A trusted person (SPEC "A trusted person"): invite codes, redeeming them, the link as
each side sees it, unlinking, and what erasure and the export do with it."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient

from services.api.buddy import REDEEMS_PER_PROFILE, new_code
from shared.crypto import token_hash
from shared.models.buddies import CODE_ALPHABET, CODE_LENGTH
from tests.conftest import SECRET_KEY
from tests.factories import bearer
from tests.test_api_profiles import create

SHOWN_CODE = re.compile(r"^[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}$")


async def person(api: AsyncTestClient[Any], name: str) -> dict[str, str]:
    return bearer((await create(api, display_name=name))["token"])


async def people(api: AsyncTestClient[Any], *names: str) -> list[dict[str, str]]:
    return [await person(api, name) for name in names]


async def invite(api: AsyncTestClient[Any], headers: dict[str, str]) -> str:
    resp = await api.post("/v1/me/buddy/invite", headers=headers)
    assert resp.status_code == 201, resp.text
    code: str = resp.json()["code"]
    return code


async def redeem(api: AsyncTestClient[Any], headers: dict[str, str], code: str) -> Any:
    return await api.post("/v1/me/buddy", json={"code": code}, headers=headers)


async def test_invite_is_a_code_easy_to_read_out_with_at_least_40_bits(
    api: AsyncTestClient[Any],
) -> None:
    ana = await person(api, "Ana")
    resp = await api.post("/v1/me/buddy/invite", headers=ana)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert SHOWN_CODE.match(body["code"]), body["code"]
    expires = datetime.fromisoformat(body["expires_at"])
    assert abs(expires - (datetime.now(UTC) + timedelta(days=7))) < timedelta(minutes=1)
    words = body["what_linking_shows"]
    assert "suggestions" in words and "anything else" in words and "home" in words
    assert not set("0O1lI") & set(CODE_ALPHABET)
    assert CODE_LENGTH * math.log2(len(CODE_ALPHABET)) >= 40
    codes = {new_code() for _ in range(500)}
    assert len(codes) == 500  # no repeats: the codes are random
    assert set("".join(codes)) == set(CODE_ALPHABET)  # every symbol used, nothing else
    assert await invite(api, ana) != body["code"]


async def test_code_is_stored_only_as_its_hmac(
    api: AsyncTestClient[Any], pool: asyncpg.Pool
) -> None:
    ana = await person(api, "Ana")
    resp = await api.post("/v1/me/buddy/invite", headers={**ana, "Idempotency-Key": "invite-1"})
    code = resp.json()["code"]
    plain = code.replace("-", "")
    async with pool.acquire() as conn:
        stored = await conn.fetchval("SELECT code_hash FROM buddy_invites")
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        dump = ""
        for t in tables:
            rows = await conn.fetch(f'SELECT row_to_json(x)::text AS j FROM "{t[0]}" x')
            dump += "".join(r["j"] for r in rows)
    assert bytes(stored) == token_hash(SECRET_KEY, plain, purpose="buddy-invite")
    for form in (code, plain, code.lower(), plain.encode().hex()):
        assert form not in dump
    # The retry gets the same code back: the answer was kept sealed, not in the clear.
    again = await api.post("/v1/me/buddy/invite", headers={**ana, "Idempotency-Key": "invite-1"})
    assert again.json()["code"] == code


async def test_redeem_links_both_and_voids_both_invites(
    api: AsyncTestClient[Any], pool: asyncpg.Pool
) -> None:
    ana, ben, cai = await people(api, "Ana", "Ben", "Cai")
    first = await invite(api, ana)
    ana_code = await invite(api, ana)  # a new invite replaces the last
    ben_code = await invite(api, ben)
    assert (await redeem(api, ben, first)).status_code == 422
    typed = " " + ana_code.lower().replace("-", " ") + " "  # read out, typed any way
    resp = await redeem(api, ben, typed)
    assert resp.status_code == 200, resp.text
    assert resp.json()["display_name"] == "Ana"
    for me, other in ((ana, "Ben"), (ben, "Ana")):
        got = await api.get("/v1/me/buddy", headers=me)
        assert got.status_code == 200 and got.json()["display_name"] == other
        assert set(got.json()) == {"display_name", "since"}
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM buddy_invites") == 0
    assert (await redeem(api, cai, ben_code)).status_code == 422  # Ben's invite is void
    assert (await api.get("/v1/me/buddy", headers=cai)).status_code == 404


async def test_redeeming_when_linked_already_is_409(api: AsyncTestClient[Any]) -> None:
    ana, ben, cai = await people(api, "Ana", "Ben", "Cai")
    assert (await redeem(api, ben, await invite(api, ana))).status_code == 200
    cai_code = await invite(api, cai)
    resp = await redeem(api, ben, cai_code)
    assert resp.status_code == 409, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert (await api.post("/v1/me/buddy/invite", headers=ana)).status_code == 409
    assert (await api.get("/v1/me/buddy", headers=ben)).json()["display_name"] == "Ana"


async def test_every_unusable_code_gets_the_same_422(
    api: AsyncTestClient[Any], pool: asyncpg.Pool
) -> None:
    ana, ben, cai, dee, eve = await people(api, "Ana", "Ben", "Cai", "Dee", "Eve")
    used = await invite(api, ana)
    assert (await redeem(api, ben, used)).status_code == 200
    expired = await invite(api, cai)
    own = await invite(api, dee)
    taken = await invite(api, eve)
    cai_id, eve_id = [(await api.get("/v1/me", headers=h)).json()["id"] for h in (cai, eve)]
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE buddy_invites SET expires_at = now() - interval '1 second'"
            " WHERE profile_id = $1",
            cai_id,
        )
        ana_id = (await api.get("/v1/me", headers=ana)).json()["id"]
        # Eve's invite still open while she is linked (as after a race): it cannot be used.
        await conn.execute("DELETE FROM buddies")
        await conn.execute(
            "INSERT INTO buddies (profile_id, buddy_id) VALUES ($1, $2), ($2, $1)", eve_id, ana_id
        )
    unknown = "KQ7M-4XTR-9PWD" if used != "KQ7M-4XTR-9PWD" else "KQ7M-4XTR-9PWE"
    answers = []
    for code in (unknown, used, expired, own, taken):
        resp = await redeem(api, dee, code)
        assert resp.status_code == 422, (code, resp.text)
        answers.append(resp.json())
    assert all(a == answers[0] for a in answers), answers
    assert [e["field"] for e in answers[0]["errors"]] == ["code"]
    assert (await api.get("/v1/me/buddy", headers=dee)).status_code == 404


async def test_code_of_the_wrong_shape_is_422_naming_code(api: AsyncTestClient[Any]) -> None:
    ana = await person(api, "Ana")
    for code in ("KQ7M-4XTR", "0000-0000-0000", "KQ7M-4XTR-9PWDX", "KQ7M_4XTR_9PWD", "", "I" * 12):
        resp = await redeem(api, ana, code)
        assert resp.status_code == 422, (code, resp.text)
        errors = resp.json()["errors"]
        assert [e["field"] for e in errors] == ["code"], errors
        assert "like KQ7M-4XTR-9PWD" in errors[0]["reason"]
    resp = await api.post("/v1/me/buddy", json={"code": 123456789012}, headers=ana)
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "code"


async def test_redeeming_is_rate_limited_per_user(api: AsyncTestClient[Any]) -> None:
    ana, ben = await people(api, "Ana", "Ben")
    for _ in range(REDEEMS_PER_PROFILE):
        assert (await redeem(api, ana, "KQ7M-4XTR-9PWD")).status_code == 422
    resp = await redeem(api, ana, "KQ7M-4XTR-9PWD")
    assert resp.status_code == 429, resp.text
    assert 1 <= int(resp.headers["retry-after"]) <= 60
    # Even a good code waits: guessing stops, whatever is guessed.
    assert (await redeem(api, ana, await invite(api, ben))).status_code == 429
    assert (await api.get("/v1/me/buddy", headers=ana)).status_code == 404


async def test_unlinking_unlinks_both(api: AsyncTestClient[Any]) -> None:
    ana, ben = await people(api, "Ana", "Ben")
    assert (await redeem(api, ben, await invite(api, ana))).status_code == 200
    assert (await api.delete("/v1/me/buddy", headers=ana)).status_code == 204
    for me in (ana, ben):
        assert (await api.get("/v1/me/buddy", headers=me)).status_code == 404
    assert (await api.delete("/v1/me/buddy", headers=ben)).status_code == 204
    # Free again: either may link anew.
    assert (await redeem(api, ana, await invite(api, ben))).status_code == 200


async def test_erasure_unlinks_and_removes_invites(
    api: AsyncTestClient[Any], pool: asyncpg.Pool
) -> None:
    ana, ben, cai = await people(api, "Ana", "Ben", "Cai")
    assert (await redeem(api, ben, await invite(api, ana))).status_code == 200
    await invite(api, cai)
    assert (await api.delete("/v1/me", headers=ana)).status_code == 204
    assert (await api.get("/v1/me/buddy", headers=ben)).status_code == 404
    assert (await api.delete("/v1/me", headers=cai)).status_code == 204
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM buddies") == 0
        assert await conn.fetchval("SELECT count(*) FROM buddy_invites") == 0


async def test_export_lists_the_link(api: AsyncTestClient[Any]) -> None:
    ana, ben = await people(api, "Ana", "Ben")
    assert (await api.get("/v1/me/export", headers=ana)).json()["buddy"] is None
    linked = await redeem(api, ben, await invite(api, ana))
    export = (await api.get("/v1/me/export", headers=ana)).json()
    assert export["buddy"] == {"display_name": "Ben", "since": linked.json()["since"]}
