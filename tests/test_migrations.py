"""The migration runner: order, checksum refusal, concurrent start, failure rollback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from shared.db.migrate import MigrationError, default_migrations_dir, load_migrations, migrate_url
from shared.db.pool import create_pool
from tests.conftest import RUN_ID, database_url_for


@pytest.fixture
async def scratch_db(server_urls: tuple[str, str]) -> AsyncIterator[str]:
    name = f"lowkey_mig_{RUN_ID}_{id(object()) % 100000}"
    admin = await asyncpg.connect(server_urls[0])
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    yield database_url_for(server_urls[0], name)
    admin = await asyncpg.connect(server_urls[0])
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


def write(dir_: Path, name: str, sql: str) -> None:
    (dir_ / name).write_text(sql)


async def tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r["tablename"] for r in rows}
    finally:
        await conn.close()


async def test_applies_in_order_and_records_checksums(scratch_db: str, tmp_path: Path) -> None:
    write(tmp_path, "0002_b.sql", "ALTER TABLE a ADD COLUMN y int;")
    write(tmp_path, "0001_a.sql", "CREATE TABLE a (x int);")
    assert await migrate_url(scratch_db, tmp_path) == ["0001_a.sql", "0002_b.sql"]
    assert await migrate_url(scratch_db, tmp_path) == []
    conn = await asyncpg.connect(scratch_db)
    rows = await conn.fetch(
        "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
    )
    cols = await conn.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name='a'"
    )
    await conn.close()
    assert [r["version"] for r in rows] == [1, 2]
    assert all(len(r["checksum"]) == 64 for r in rows)
    assert {c["column_name"] for c in cols} == {"x", "y"}


async def test_edited_applied_migration_is_refused(scratch_db: str, tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql", "CREATE TABLE a (x int);")
    await migrate_url(scratch_db, tmp_path)
    write(tmp_path, "0001_a.sql", "CREATE TABLE a (x bigint);")
    write(tmp_path, "0002_b.sql", "CREATE TABLE b (x int);")
    with pytest.raises(MigrationError, match=r"0001_a\.sql was edited"):
        await migrate_url(scratch_db, tmp_path)
    assert "b" not in await tables(scratch_db)


async def test_failing_migration_leaves_database_as_it_was(scratch_db: str, tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql", "CREATE TABLE a (x int);")
    write(tmp_path, "0002_bad.sql", "CREATE TABLE half (x int);\nSELECT no_such_function();")
    with pytest.raises(MigrationError, match=r"0002_bad\.sql failed"):
        await migrate_url(scratch_db, tmp_path)
    assert await tables(scratch_db) == {"a", "schema_migrations"}
    conn = await asyncpg.connect(scratch_db)
    versions = await conn.fetch("SELECT version FROM schema_migrations")
    await conn.close()
    assert [r["version"] for r in versions] == [1]


async def test_concurrent_starts_apply_each_migration_once(scratch_db: str, tmp_path: Path) -> None:
    # Not idempotent on purpose: a second application would fail on the duplicate table.
    write(tmp_path, "0001_a.sql", "CREATE TABLE a (x int); SELECT pg_sleep(0.3);")
    write(tmp_path, "0002_b.sql", "CREATE TABLE b (x int);")
    results = await asyncio.gather(*(migrate_url(scratch_db, tmp_path) for _ in range(4)))
    applied = [name for result in results for name in result]
    assert sorted(applied) == ["0001_a.sql", "0002_b.sql"]


def test_badly_named_file_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "1_a.sql", "SELECT 1;")
    with pytest.raises(MigrationError, match=r"NNNN_some_name\.sql"):
        load_migrations(tmp_path)


async def test_project_schema_applies_on_this_server(scratch_db: str) -> None:
    applied = await migrate_url(scratch_db, default_migrations_dir())
    assert applied[0] == "0001_schema.sql"
    assert {"events", "profiles", "matches", "outbox", "weight_versions"} <= await tables(
        scratch_db
    )
    conn = await asyncpg.connect(scratch_db)
    active = await conn.fetchrow(
        "SELECT w.* FROM active_weights a JOIN weight_versions w USING (version)"
    )
    await conn.close()
    assert active is not None
    assert (active["version"], active["distance_decay_km"], active["min_score"]) == (1, 5, 0.3)


INSERT_MATCH = """
INSERT INTO matches (profile_id, event_id, score, distance_score, interest_score,
    comfort_score, explanation_id, weight_version)
VALUES ($1, $2, 0.8, 0.8, 0.8, 0.8, $3, 1)
"""
# The same row since 0020 (parts, no score).
INSERT_PARTS = """
INSERT INTO matches (profile_id, event_id, distance_km, online, interest_score, comfort_gap,
    explanation_id)
VALUES ($1, $2, 0.2, false, 0.8, 2, $3)
"""


async def test_matches_become_partitioned_with_their_rows(scratch_db: str, tmp_path: Path) -> None:
    """0009 on a database holding matches: the rows stay, in the one partition covering
    every id, with their key and cascades; new rows of any profile have a home."""
    from tests.test_worker_jobs import add_event, add_profile

    for migration in sorted(default_migrations_dir().glob("*.sql")):
        if migration.name < "0009":
            write(tmp_path, migration.name, migration.read_text())
    await migrate_url(scratch_db, tmp_path)
    pool = await create_pool(scratch_db, max_size=1)  # the JSON codecs of the app
    try:
        async with pool.acquire() as conn:
            first = await add_profile(conn, 52.52, 13.40)
            second = await add_profile(conn, 52.5, 13.4)
            event = await add_event(conn, 52.521, 13.401)
            text_id = await conn.fetchval(
                "INSERT INTO match_explanations (text) VALUES ('board games') RETURNING id"
            )
            await conn.execute(INSERT_MATCH, first, event, text_id)
    finally:
        await pool.close()
    await migrate_url(scratch_db, default_migrations_dir())
    conn = await asyncpg.connect(scratch_db)
    try:
        assert await conn.fetchval("SELECT relkind FROM pg_class WHERE relname = 'matches'") == b"p"
        rows = await conn.fetch("SELECT tableoid::regclass::text AS part, profile_id FROM matches")
        assert [(r["part"], r["profile_id"]) for r in rows] == [("matches_initial", first)]
        await conn.execute(INSERT_PARTS, second, event, text_id)
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(INSERT_PARTS, second, event, text_id)
        await conn.execute("DELETE FROM profiles WHERE id = $1", first)  # cascades
        assert await conn.fetchval("SELECT array_agg(profile_id) FROM matches") == [second]
    finally:
        await conn.close()


async def test_stored_matches_keep_their_parts_and_a_release_rescore_is_queued(
    scratch_db: str, tmp_path: Path
) -> None:
    """0020 on a database holding scored matches: each row's parts are derived from its
    profile and event (online, comfort gap, kept for a cancelled event), the scores go,
    and a re-score is queued to store the pairs under min_score too."""
    from tests.test_worker_jobs import add_event, add_profile

    for migration in sorted(default_migrations_dir().glob("*.sql")):
        if migration.name < "0020":
            write(tmp_path, migration.name, migration.read_text())
    await migrate_url(scratch_db, tmp_path)
    pool = await create_pool(scratch_db, max_size=1)
    try:
        async with pool.acquire() as conn:
            near = await add_profile(conn, 52.52, 13.40, comfort_level=4)
            online_only = await add_profile(conn, 52.5, 13.4, formats=["online"])
            board_games = await add_event(conn, 52.521, 13.401, intensity=2)
            webinar = await add_event(conn, None, None, intensity=1, status="cancelled")
            text_id = await conn.fetchval(
                "INSERT INTO match_explanations (text) VALUES ('board games') RETURNING id"
            )
            for profile, event in ((near, board_games), (online_only, webinar)):
                await conn.execute(INSERT_MATCH, profile, event, text_id)
    finally:
        await pool.close()
    await migrate_url(scratch_db, default_migrations_dir())
    conn = await asyncpg.connect(scratch_db)
    try:
        rows = await conn.fetch(
            "SELECT profile_id, online, comfort_gap, kept FROM matches ORDER BY profile_id"
        )
        assert [tuple(r) for r in rows] == [(near, False, 2, False), (online_only, True, 2, True)]
        columns = await conn.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'matches'"
        )
        assert not {"score", "distance_score", "comfort_score", "weight_version"} & {
            c["column_name"] for c in columns
        }
        queued = await conn.fetch("SELECT kind, subject_id FROM outbox WHERE done_at IS NULL")
        assert [tuple(r) for r in queued] == [("rescore", 1)]
        assert await conn.fetchval("SELECT reason FROM rescore_runs ORDER BY id DESC LIMIT 1") == (
            "release"
        )
    finally:
        await conn.close()
