"""Server settings: one dataclass, filled from command-line arguments or ``JOBDECK_*`` environment variables.

    settings = Settings.from_env()                      # JOBDECK_STORE, JOBDECK_TOKEN, ...
    settings = Settings.from_env(port=9000, demo=True)  # explicit values win over the environment

An argument given explicitly beats the environment, which beats the default. Every value is checked here, so
that a typo in an environment variable is one clear line at start, not a failure on the first request.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import InvalidArgumentError

# Re-exported: the address rules live at the bottom layer (the api applies them too), named here as before.
from ..core.net import (
    ALLOW_PRIVATE_FLAG,
    DEFAULT_PREFIX,
    blocked_address,
    check_notify_url,
    is_loopback,
    redact_target,
)
from ..stores.base import DEFAULT_MAX_MESSAGES, DEFAULT_MAX_PAST_JOBS, DEFAULT_STALE_AFTER

__all__ = ["ALLOW_PRIVATE_FLAG", "DEFAULT_PREFIX", "Settings", "blocked_address", "check_notify_url",
           "default_store_url", "is_loopback", "redact_target"]

# environment variable -> Settings field (the value is converted to the field's type)
_ENV: dict[str, str] = {
    "JOBDECK_STORE": "store",
    "JOBDECK_TOKEN": "token",
    "JOBDECK_HOST": "host",
    "JOBDECK_PORT": "port",
    "JOBDECK_STALE_AFTER": "stale_after",
    "JOBDECK_PREFIX": "prefix",
    "JOBDECK_SHUTDOWN_GRACE": "shutdown_grace",
    "JOBDECK_DEMO_SPEED": "demo_speed",
    "JOBDECK_FORWARDED_ALLOW_IPS": "forwarded_allow_ips",
    "JOBDECK_TRUSTED_ORIGINS": "trusted_origins",
    "JOBDECK_VIEWER_TOKENS": "viewer_tokens",
    "JOBDECK_METRICS_TOKEN": "metrics_token",
    "JOBDECK_METRICS_PUBLIC": "metrics_public",
    "JOBDECK_METRICS_PORT": "metrics_port",
    "JOBDECK_METRICS_ADDR": "metrics_addr",
    "JOBDECK_NOTIFY": "notify",
    "JOBDECK_NOTIFY_SECRET": "notify_secret",
    "JOBDECK_NOTIFY_COMPLETED": "notify_completed",
    "JOBDECK_NOTIFY_ALLOW_PRIVATE": "notify_allow_private",
    "JOBDECK_PUBLIC_URL": "public_url",
    "JOBDECK_MAX_PAST_JOBS": "max_past_jobs",
    "JOBDECK_MAX_PAST_AGE": "max_past_age",
    "JOBDECK_MAX_MESSAGES": "max_messages",
    "JOBDECK_EXECUTOR": "executor",
    "JOBDECK_EXTERNAL_TYPES": "external_types",
    "JOBDECK_REPORT_SECRET": "report_secret",
}


def default_store_url(environ: Mapping[str, str] | None = None) -> str:
    """``sqlite:///$XDG_DATA_HOME/jobdeck/jobs.db`` (``~/.local/share/jobdeck/jobs.db`` without XDG_DATA_HOME)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return f"sqlite:///{Path(base) / 'jobdeck' / 'jobs.db'}"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything ``jobdeck serve`` needs to know.

    ``store`` None means the default SQLite file (:func:`default_store_url`); ``token`` None with
    ``no_auth`` False means a random token is generated at start. ``forwarded_allow_ips`` (comma-separated
    addresses or networks, ``*`` for any; uvicorn's default, the loopback address) are the reverse proxies whose
    forwarded host and scheme are believed; ``trusted_origins`` are origins always allowed to write.
    Lists (``viewer_tokens``, ``notify``, ``notify_completed``) come from the environment separated by commas
    or spaces. ``max_past_jobs``, ``max_past_age`` (seconds) and ``max_messages`` (per kind and job) are the
    store's retention: they bound its size. ``metrics_port`` and ``metrics_addr`` are a worker's (``jobdeck
    worker``): where it serves its own Prometheus figures (the server serves them at ``/metrics``).
    ``notify_allow_private`` lets webhooks go to this machine and to link-local, multicast and unspecified
    addresses, which :func:`check_notify_url` refuses otherwise.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    store: str | None = None
    token: str | None = None
    no_auth: bool = False
    app: str | None = None
    demo: bool = False
    demo_speed: float = 1.0
    stale_after: float = DEFAULT_STALE_AFTER
    prefix: str = DEFAULT_PREFIX
    shutdown_grace: float = 10.0
    ping_interval: float = 15.0
    forwarded_allow_ips: str = "127.0.0.1"
    trusted_origins: tuple[str, ...] = ()
    viewer_tokens: tuple[str, ...] = ()
    metrics_token: str | None = None
    metrics_public: bool = False
    metrics_port: int | None = None
    metrics_addr: str = "127.0.0.1"
    notify: tuple[str, ...] = ()
    notify_secret: str | None = None
    notify_completed: tuple[str, ...] = ()
    notify_allow_private: bool = False
    public_url: str | None = None
    max_past_jobs: int = DEFAULT_MAX_PAST_JOBS
    max_past_age: float | None = None
    max_messages: int = DEFAULT_MAX_MESSAGES
    executor: str | None = None
    external_types: tuple[str, ...] = ()
    report_secret: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.port, int) or isinstance(self.port, bool) or not 0 <= self.port <= 65535:
            raise InvalidArgumentError(f"port must be an integer from 0 to 65535, got {self.port!r}")
        for name in ("stale_after", "demo_speed", "shutdown_grace", "ping_interval"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise InvalidArgumentError(f"{name} must be a positive number, got {value!r}")
        if not isinstance(self.prefix, str) or not self.prefix.startswith("/") or self.prefix.endswith("/"):
            raise InvalidArgumentError(f"prefix must start with '/' and not end with one, got {self.prefix!r}")
        if self.token is not None and not self.token.strip():
            raise InvalidArgumentError("token must not be empty")
        if self.no_auth and self.token:
            raise InvalidArgumentError("choose either a token or no_auth, not both")
        if self.no_auth and self.viewer_tokens:
            raise InvalidArgumentError("viewer tokens need authentication: drop no_auth")
        if any(not t.strip() for t in self.viewer_tokens) or self.token in self.viewer_tokens:
            raise InvalidArgumentError("viewer tokens must be non-empty and differ from the admin token")
        if self.metrics_token is not None and not self.metrics_token.strip():
            raise InvalidArgumentError("metrics_token must not be empty")
        if self.metrics_token and self.metrics_public:
            raise InvalidArgumentError("choose either a metrics token or metrics_public, not both")
        if self.metrics_public and not is_loopback(self.host):
            raise InvalidArgumentError(
                f"metrics_public serves /metrics without a token, which is allowed on a loopback "
                f"host only, not {self.host!r}; use a metrics token instead")
        if self.metrics_port is not None and (isinstance(self.metrics_port, bool)
                                              or not isinstance(self.metrics_port, int)
                                              or not 0 <= self.metrics_port <= 65535):
            raise InvalidArgumentError(f"metrics_port must be an integer from 0 to 65535, got {self.metrics_port!r}")
        if not isinstance(self.metrics_addr, str) or not self.metrics_addr.strip():
            raise InvalidArgumentError(f"metrics_addr must be a host address, got {self.metrics_addr!r}")
        for url in self.notify:
            check_notify_url(url, allow_private=self.notify_allow_private)
        for name in ("max_past_jobs", "max_messages"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgumentError(f"{name} must be a whole number of at least 1, got {value!r}")
        if self.max_past_age is not None and (isinstance(self.max_past_age, bool)
                                              or not isinstance(self.max_past_age, int | float)
                                              or not self.max_past_age > 0):
            raise InvalidArgumentError(f"max_past_age must be a positive number of seconds, got {self.max_past_age!r}")
        if self.public_url is not None and not self.public_url.startswith(("http://", "https://")):
            raise InvalidArgumentError(f"public_url must be an http(s) URL, got {self.public_url!r}")
        if self.executor is not None and "://" not in self.executor:
            raise InvalidArgumentError(f"executor must be a URL such as local:// or celery+redis://host:6379/1, "
                                       f"got {self.executor!r}")

    @property
    def store_url(self) -> str:
        """The store URL to open: the configured one or the default SQLite file."""
        return self.store or default_store_url()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``JOBDECK_*`` variables, with ``overrides`` (None values ignored) taking precedence.

        Raises ValueError naming the variable when one cannot be parsed.
        """
        env = os.environ if environ is None else environ
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for var, name in _ENV.items():
            raw = env.get(var)
            if raw is None or raw == "":
                continue
            try:
                values[name] = _convert(raw, fields[name].type)
            except ValueError:
                raise InvalidArgumentError(f"environment variable {var}={raw!r} is not a valid {name}") from None
        unknown = set(overrides) - set(fields)
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _convert(raw: str, kind: Any) -> Any:
    # Field types are strings under ``from __future__ import annotations``.
    text = str(kind)
    if text == "tuple[str, ...]":
        return tuple(part for part in raw.replace(",", " ").split() if part)
    if text in ("int", "int | None"):
        return int(raw)
    if text in ("float", "float | None"):
        return float(raw)
    if text == "bool":
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise InvalidArgumentError(raw)
    return raw
