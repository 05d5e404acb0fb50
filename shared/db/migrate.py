"""The migration runner: plain SQL files applied in order, each in its own transaction.

Applied files are recorded with a SHA-256 checksum; an applied file that has been
edited since is refused. A PostgreSQL advisory lock lets only one process migrate.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

# Any fixed 64-bit number: every lowkey process takes the same lock.
MIGRATION_LOCK_ID = 7_406_311_951_420_118

FILE_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""
SELECT_APPLIED = "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
INSERT_APPLIED = "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)"


class MigrationError(RuntimeError):
    """A migration could not be applied, or an applied one was edited."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def default_migrations_dir() -> Path:
    """The repository's migrations/ folder, or the copy packed into the wheel."""
    repo_dir = Path(__file__).resolve().parents[2] / "migrations"
    if repo_dir.is_dir():
        return repo_dir
    return Path(__file__).resolve().parent / "sql_migrations"


def load_migrations(directory: Path) -> list[Migration]:
    migrations: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNNN_some_name.sql")
        migrations.append(Migration(int(match.group(1)), path.name, path.read_text()))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a number")
    return migrations


async def migrate(conn: asyncpg.Connection, directory: Path | None = None) -> list[str]:
    """Apply every pending migration; returns the names applied."""
    migrations = load_migrations(directory or default_migrations_dir())
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
    try:
        await conn.execute(CREATE_TABLE)
        applied = {r["version"]: r for r in await conn.fetch(SELECT_APPLIED)}
        done: list[str] = []
        for migration in migrations:
            record = applied.get(migration.version)
            if record is not None:
                if record["checksum"] != migration.checksum:
                    raise MigrationError(
                        f"{migration.name} was edited after it was applied "
                        "(checksum differs); add a new migration instead"
                    )
                continue
            try:
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        INSERT_APPLIED, migration.version, migration.name, migration.checksum
                    )
            except asyncpg.PostgresError as exc:
                raise MigrationError(f"{migration.name} failed and was rolled back: {exc}") from exc
            done.append(migration.name)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_ID)


async def migrate_url(database_url: str, directory: Path | None = None) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        return await migrate(conn, directory)
    finally:
        await conn.close()
