"""Timing helpers: medians over repeats, percentiles, and the environment a section needs.

No section asserts an absolute time: each reports a figure next to a baseline taken in the same run.
"""

from __future__ import annotations

import os
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def per_call(fn: Callable[[float], Any], n: int, repeats: int = 5) -> float:
    """Median seconds per call of ``fn(v)`` over ``repeats`` loops of ``n`` calls (v walks 0 -> 1)."""
    step = 1.0 / n
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(n):
            fn(i * step)
        samples.append((time.perf_counter() - start) / n)
    return statistics.median(samples)


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (0-100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def redis_url() -> str:
    return os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL


def redis_unavailable(url: str) -> str | None:
    """Why Redis cannot be used (None when it answers)."""
    try:
        import redis
    except ImportError:
        return "redis-py not installed (pip install 'jobdeck[redis]')"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        try:
            client.ping()
        finally:
            client.close()
    except redis.RedisError as exc:
        return f"no Redis at {url} ({type(exc).__name__})"
    return None


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft open-files limit towards ``wanted`` (bounded by the hard limit); returns the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def rss_mb(pid: int | None = None) -> float:
    """Resident set size in MB from /proc (no psutil needed)."""
    with open(f"/proc/{pid or 'self'}/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks
