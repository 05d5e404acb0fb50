"""lowkey's settings: one frozen Struct, read once from the environment at start-up.

A bad value raises `SettingsError` whose message is one line naming the variable.
Nothing here reads `os.environ` on import; callers pass the mapping in.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

import msgspec

LOG_LEVELS = ("debug", "info", "warning", "error")
GEOCODERS = ("nominatim",)


class SettingsError(ValueError):
    """A setting has a bad value; the message names the variable."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str | None = None
    redis_url: str | None = None
    data_dir: Path = Path(".lowkey")
    host: str = "127.0.0.1"
    api_port: int = 8000
    feed_port: int = 8001
    worker_metrics_port: int = 8002
    public_url: str = ""
    feed_base_url: str = ""
    admin_key: str | None = None
    secret_key: str | None = None
    geocoder: str | None = None
    geocoder_url: str | None = None
    trusted_proxies: tuple[str, ...] = ()
    log_level: str = "info"
    # Prefix for every Redis key and the arq queue, so test runs never meet.
    redis_prefix: str = "lowkey"
    profile_rate_limit: int = 10
    """Profile creations allowed per client address per minute."""

    def with_urls(self, database_url: str, redis_url: str) -> Settings:
        return msgspec.structs.replace(self, database_url=database_url, redis_url=redis_url)

    @property
    def queue_name(self) -> str:
        return f"{self.redis_prefix}:queue"

    @property
    def chunk_queue_name(self) -> str:
        """Full re-score chunks: a queue of their own, taken one at a time per process."""
        return f"{self.redis_prefix}:chunks"


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}: must be a port number 1-65535, got {raw!r}") from None
    if not 1 <= value <= 65535:
        raise SettingsError(f"{name}: must be a port number 1-65535, got {raw!r}")
    return value


def _url(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str | None:
    raw = env.get(name) or None
    if raw is None:
        return None
    parsed = urlparse(raw)
    if parsed.scheme not in schemes:
        raise SettingsError(f"{name}: must be a URL starting with {' or '.join(schemes)}://")
    return raw


def _http_base(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name) or default
    parsed = urlparse(raw)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise SettingsError(f"{name}: must be an http(s) URL, got {raw!r}")
    return raw.rstrip("/")


def _secret(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name) or None
    if raw is not None and len(raw) < 16:
        # Never echo the value: it is a secret.
        raise SettingsError(f"{name}: must be at least 16 characters long")
    return raw


def load_settings(env: Mapping[str, str]) -> Settings:
    """Build Settings from an environment mapping, or raise SettingsError."""
    host = env.get("LOWKEY_HOST") or "127.0.0.1"
    api_port = _port(env, "LOWKEY_API_PORT", 8000)
    feed_port = _port(env, "LOWKEY_FEED_PORT", 8001)
    metrics_port = _port(env, "LOWKEY_WORKER_METRICS_PORT", 8002)
    log_level = (env.get("LOWKEY_LOG_LEVEL") or "info").lower()
    if log_level not in LOG_LEVELS:
        raise SettingsError(f"LOWKEY_LOG_LEVEL: must be one of {', '.join(LOG_LEVELS)}")
    geocoder = (env.get("LOWKEY_GEOCODER") or "").lower() or None
    if geocoder is not None and geocoder not in GEOCODERS:
        raise SettingsError(f"LOWKEY_GEOCODER: must be one of {', '.join(GEOCODERS)}")
    proxies: list[str] = []
    for item in (env.get("LOWKEY_TRUSTED_PROXIES") or "").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise SettingsError(
                f"LOWKEY_TRUSTED_PROXIES: {item!r} is not an IP address or network"
            ) from None
        proxies.append(item)
    return Settings(
        database_url=_url(env, "DATABASE_URL", ("postgresql", "postgres")),
        redis_url=_url(env, "REDIS_URL", ("redis", "rediss", "unix")),
        data_dir=Path(env.get("LOWKEY_DATA_DIR") or ".lowkey"),
        host=host,
        api_port=api_port,
        feed_port=feed_port,
        worker_metrics_port=metrics_port,
        public_url=_http_base(env, "LOWKEY_PUBLIC_URL", f"http://127.0.0.1:{api_port}"),
        feed_base_url=_http_base(env, "LOWKEY_FEED_BASE_URL", f"http://127.0.0.1:{feed_port}"),
        admin_key=_secret(env, "LOWKEY_ADMIN_KEY"),
        secret_key=_secret(env, "LOWKEY_SECRET_KEY"),
        geocoder=geocoder,
        geocoder_url=_url(env, "LOWKEY_GEOCODER_URL", ("http", "https")),
        trusted_proxies=tuple(proxies),
        log_level=log_level,
    )
