"""Opening the Redis store's connection: its URL (with jobdeck's own ``?prefix=``), the password kept out of
messages, and the server checks (reachable, Redis 5 or newer for streams)."""

from __future__ import annotations

import re

import redis

from ..core.errors import StoreError
from ..core.urls import TEXT, split_options
from ..core.urls import redact_url as redact

__all__ = ["connect", "glob_escape", "redact", "split_prefix"]


def glob_escape(text: str) -> str:
    """``text`` matched literally in a SCAN pattern."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def split_prefix(url: str) -> tuple[str, str | None]:
    """Take jobdeck's own ``?prefix=`` out of the URL; redis-py would pass it to the connection and fail."""
    rest, options = split_options(url, {"prefix": TEXT}, label="Redis", error=StoreError)
    return rest, options.get("prefix")


def connect(url: str, shown: str, connect_timeout: float, socket_timeout: float) -> redis.Redis[str]:
    try:
        client = redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=connect_timeout,
                                      socket_timeout=socket_timeout, health_check_interval=30)
    except (ValueError, TypeError) as exc:
        raise StoreError(f"bad Redis URL {shown}: {exc}") from None
    try:
        client.ping()
        version = str(client.info("server").get("redis_version", "0"))
    except redis.RedisError as exc:
        client.close()
        raise StoreError(f"cannot reach Redis at {shown}: {exc}; is the server running and the URL right?") from None
    if int(version.split(".", maxsplit=1)[0]) < 5:
        client.close()
        raise StoreError(f"Redis at {shown} is version {version}; jobdeck needs Redis 5 or newer (streams)")
    return client
