"""The demo city's keys, kept under the data dir's secrets so that every `lowkey up --demo`
shows them again; the database holds only their hashes, as it does for every key.

Shown again only while they still open this database (a data dir pointed at another
database, a revoked organiser or an erased demo user shows nothing), with the demo user's
current feed address, unsealed with the user's token as `GET /v1/me` does.
"""

from __future__ import annotations

import logging
from pathlib import Path

import msgspec

from shared.crypto import SealError
from shared.db.organisers import organiser_id_by_key_hash
from shared.db.pool import create_pool
from shared.db.profiles import fetch_profile, profile_id_by_token_hash
from shared.runtime import keep_secret, kept_secret
from shared.settings import Settings
from shared.tokens import open_feed_token, organiser_key_hash, profile_token_hash

log = logging.getLogger("lowkey.demo")

KEYS_FILE = "demo_keys.json"
# The labels of the demo's printed block (shared/demo.py) that carry its two keys.
ORGANISER_LABEL = "demo organiser key"
USER_LABEL = "demo user token"


class DemoKeys(msgspec.Struct, frozen=True):
    organiser_key: str
    user_token: str


def printed_values(block: str) -> dict[str, str]:
    """`label: value` lines of a printed block, by label."""
    values = {}
    for line in block.splitlines():
        label, sep, value = line.partition(":")
        if sep and value.strip():
            values[label.strip()] = value.strip()
    return values


def keep_demo_keys(data_dir: Path, block: str) -> None:
    """Keep the two keys of a freshly loaded demo's printed block."""
    values = printed_values(block)
    keys = DemoKeys(organiser_key=values[ORGANISER_LABEL], user_token=values[USER_LABEL])
    keep_secret(data_dir, KEYS_FILE, msgspec.json.encode(keys).decode())


async def shown_demo_keys(settings: Settings) -> str | None:
    """The printable block for the kept keys, or None when none are kept or they no
    longer open this database."""
    assert settings.database_url and settings.secret_key
    raw = kept_secret(settings.data_dir, KEYS_FILE)
    if raw is None:
        return None
    try:
        keys = msgspec.json.decode(raw, type=DemoKeys)
    except msgspec.DecodeError:
        log.warning("the kept demo keys are unreadable", extra={"file": KEYS_FILE})
        return None
    secret = settings.secret_key
    pool = await create_pool(settings.database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            organiser = await organiser_id_by_key_hash(
                conn, organiser_key_hash(secret, keys.organiser_key)
            )
            profile_id = await profile_id_by_token_hash(
                conn, profile_token_hash(secret, keys.user_token)
            )
            found = None if profile_id is None else await fetch_profile(conn, profile_id)
    finally:
        await pool.close()
    lines = []
    if organiser is not None:
        lines.append(f"  {ORGANISER_LABEL}: {keys.organiser_key}")
    if found is not None:
        try:
            feed_token = open_feed_token(secret, found[1], keys.user_token)
        except SealError:
            found = None  # sealed under another secret key: this is not our demo user
    if found is not None:
        feed_url = f"{settings.feed_base_url}/feeds/{feed_token}.ics"
        lines += [
            f"  {USER_LABEL}:    {keys.user_token}",
            f"  demo user's feed:   {feed_url}",
            f"  webcal:             webcal://{feed_url.split('://', 1)[1]}",
        ]
    if not lines:
        log.info("the kept demo keys do not open this database; not shown")
        return None
    return "\n".join(["lowkey demo city (Leeds), loaded before:", *lines])
