"""The names every lowkey service injects (`settings`, `pool`, `queue`), as typed markers.

Handlers write `pool: PoolDep`: Litestar then injects by name without inferring it.
"""

from __future__ import annotations

from typing import TypeAlias

import asyncpg
from arq.connections import ArqRedis
from litestar.di import NamedDependency

from shared.settings import Settings

PoolDep: TypeAlias = NamedDependency[asyncpg.Pool]
QueueDep: TypeAlias = NamedDependency[ArqRedis]
SettingsDep: TypeAlias = NamedDependency[Settings]
