"""Server settings: one pydantic-settings model, filled from command-line arguments or ``JOBDECK_*`` environment
variables.

    settings = Settings.from_env()                      # JOBDECK_STORE, JOBDECK_TOKEN, ...
    settings = Settings.from_env(port=9000, demo=True)  # explicit values win over the environment

An argument given explicitly beats the environment, which beats the default. pydantic-settings reads the variables
(``JOBDECK_`` and the field's name in capitals; an empty one counts as unset) and pydantic converts them to the
fields' types; each field's rule is a validator here, so that a typo in an environment variable is one clear line
at start (an :class:`~jobdeck.errors.InvalidArgumentError`), not a failure on the first request.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from ..core.credentials import parse_tokens_file, split_named
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

# A list from the environment: words separated by commas or spaces (JOBDECK_NOTIFY="url1 url2").
Words = Annotated[tuple[str, ...], NoDecode]

# The numeric settings, each with what it must be and the test of that: the wording of its one error line,
# "port must be an integer from 0 to 65535, got 70000". None (where a field allows it) means "no limit".
_NUMBERS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "port": ("an integer from 0 to 65535", lambda v: 0 <= v <= 65535),
    "metrics_port": ("an integer from 0 to 65535", lambda v: 0 <= v <= 65535),
    "stale_after": ("a positive number", lambda v: v > 0),
    "demo_speed": ("a positive number", lambda v: v > 0),
    "shutdown_grace": ("a positive number", lambda v: v > 0),
    "ping_interval": ("a positive number", lambda v: v > 0),
    "max_past_jobs": ("a whole number of at least 1", lambda v: v >= 1),
    "max_messages": ("a whole number of at least 1", lambda v: v >= 1),
    "max_past_age": ("a positive number of seconds", lambda v: v > 0),
}

# Settings that only an argument gives (``serve --no-auth``, ``--app``, ``--demo``): no JOBDECK_* variable.
_ARGUMENTS_ONLY = frozenset({"no_auth", "app", "demo", "demo_schedule", "ping_interval"})


def default_store_url(environ: Mapping[str, str] | None = None) -> str:
    """``sqlite:///$XDG_DATA_HOME/jobdeck/jobs.db`` (``~/.local/share/jobdeck/jobs.db`` without XDG_DATA_HOME)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return f"sqlite:///{Path(base) / 'jobdeck' / 'jobs.db'}"


class Settings(BaseSettings):
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

    Named credentials (:mod:`jobdeck.core.credentials`): ``tokens`` are ``NAME=SECRET`` admin tokens and
    ``viewer_tokens`` may be named the same way; ``tokens_file`` holds more, one a line (``NAME=SECRET`` or
    ``NAME=SECRET viewer``). :meth:`credentials` gathers them all; ``token`` stays the one unnamed admin token.

    ``Settings(...)`` takes the values given and nothing else; :meth:`from_env` adds the environment. A value
    that breaks a rule is an InvalidArgumentError, an unknown name a TypeError.
    """

    model_config: ClassVar[SettingsConfigDict] = SettingsConfigDict(
        env_prefix="JOBDECK_", env_ignore_empty=True, frozen=True, extra="forbid")

    # The variable of each field is named in its comment (the docs must cover every one: tests/test_readme.py).
    host: str = "127.0.0.1"  # JOBDECK_HOST
    port: int = 8000  # JOBDECK_PORT
    store: str | None = None  # JOBDECK_STORE
    token: str | None = None  # JOBDECK_TOKEN
    tokens: Words = ()  # JOBDECK_TOKENS
    tokens_file: str | None = None  # JOBDECK_TOKENS_FILE
    no_auth: bool = False
    app: str | None = None
    demo: bool = False
    demo_speed: float = 1.0  # JOBDECK_DEMO_SPEED
    demo_schedule: bool = True  # with demo: its schedule (a Cleanup every 10 minutes); --no-demo-schedule
    stale_after: float = DEFAULT_STALE_AFTER  # JOBDECK_STALE_AFTER
    prefix: str = DEFAULT_PREFIX  # JOBDECK_PREFIX
    shutdown_grace: float = 10.0  # JOBDECK_SHUTDOWN_GRACE
    ping_interval: float = 15.0
    forwarded_allow_ips: str = "127.0.0.1"  # JOBDECK_FORWARDED_ALLOW_IPS
    trusted_origins: Words = ()  # JOBDECK_TRUSTED_ORIGINS
    viewer_tokens: Words = ()  # JOBDECK_VIEWER_TOKENS
    metrics_token: str | None = None  # JOBDECK_METRICS_TOKEN
    metrics_public: bool = False  # JOBDECK_METRICS_PUBLIC
    metrics_port: int | None = None  # JOBDECK_METRICS_PORT
    metrics_addr: str = "127.0.0.1"  # JOBDECK_METRICS_ADDR
    notify: Words = ()  # JOBDECK_NOTIFY
    notify_secret: str | None = None  # JOBDECK_NOTIFY_SECRET
    notify_completed: Words = ()  # JOBDECK_NOTIFY_COMPLETED
    notify_allow_private: bool = False  # JOBDECK_NOTIFY_ALLOW_PRIVATE
    public_url: str | None = None  # JOBDECK_PUBLIC_URL
    max_past_jobs: int = DEFAULT_MAX_PAST_JOBS  # JOBDECK_MAX_PAST_JOBS
    max_past_age: float | None = None  # JOBDECK_MAX_PAST_AGE
    max_messages: int = DEFAULT_MAX_MESSAGES  # JOBDECK_MAX_MESSAGES
    executor: str | None = None  # JOBDECK_EXECUTOR
    external_types: Words = ()  # JOBDECK_EXTERNAL_TYPES
    report_secret: str | None = None  # JOBDECK_REPORT_SECRET
    prices: str | None = None  # JOBDECK_PRICES

    def __init__(self, *, _environment: Mapping[str, str] | None = None, **values: Any) -> None:
        # ``_environment``: the values of ``values`` that from_env read from variables, for the wording of an error.
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise _refusal(exc, _environment or {}) from None

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only the values given: the environment is read by from_env, from the mapping it is handed.
        return (init_settings,)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``JOBDECK_*`` variables, with ``overrides`` (None values ignored) taking precedence.

        Raises InvalidArgumentError (a ValueError) naming the variable when one cannot be parsed.
        """
        unknown = set(overrides) - set(cls.model_fields)
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        given = {name: value for name, value in overrides.items() if value is not None}
        found = {name: value for name, value in _Environment(cls, os.environ if environ is None else environ)().items()
                 if name not in _ARGUMENTS_ONLY and name not in given}
        return cls(_environment=found, **found, **given)

    @property
    def store_url(self) -> str:
        """The store URL to open: the configured one or the default SQLite file."""
        return self.store or default_store_url()

    # ------------------------------------------------------------------ one rule per field

    @field_validator("trusted_origins", "tokens", "viewer_tokens", "notify", "notify_completed", "external_types",
                     mode="before")
    @classmethod
    def _split_words(cls, value: Any) -> Any:
        return tuple(value.replace(",", " ").split()) if isinstance(value, str) else value

    @field_validator(*_NUMBERS, mode="before")
    @classmethod
    def _given_number(cls, value: Any, info: ValidationInfo) -> Any:
        # A number given as such is checked as given (the error shows 0, not pydantic's 0.0); True is no number,
        # though pydantic would read it as 1. Text from the environment is checked once converted (below).
        name = str(info.field_name)
        if isinstance(value, bool) or (isinstance(value, int | float) and not _NUMBERS[name][1](value)):
            raise InvalidArgumentError(_number_rule(name, value))
        return value

    @field_validator(*_NUMBERS)
    @classmethod
    def _in_range(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is not None and not _NUMBERS[str(info.field_name)][1](value):
            raise InvalidArgumentError(_number_rule(str(info.field_name), value))
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not value.startswith("/") or value.endswith("/"):
            raise InvalidArgumentError(f"prefix must start with '/' and not end with one, got {value!r}")
        return value

    @field_validator("token", "metrics_token")
    @classmethod
    def _not_blank(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not value.strip():
            raise InvalidArgumentError(f"{info.field_name} must not be empty")
        return value

    @field_validator("metrics_addr")
    @classmethod
    def _host_address(cls, value: str) -> str:
        if not value.strip():
            raise InvalidArgumentError(f"metrics_addr must be a host address, got {value!r}")
        return value

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise InvalidArgumentError(f"public_url must be an http(s) URL, got {value!r}")
        return value

    @field_validator("executor")
    @classmethod
    def _executor_url(cls, value: str | None) -> str | None:
        if value is not None and "://" not in value:
            raise InvalidArgumentError(f"executor must be a URL such as local:// or celery+redis://host:6379/1, "
                                       f"got {value!r}")
        return value

    # ------------------------------------------------------------------ rules across fields

    @model_validator(mode="after")
    def _one_kind_of_auth(self) -> Settings:
        if self.no_auth and self.token:
            raise InvalidArgumentError("choose either a token or no_auth, not both")
        if self.no_auth and self.viewer_tokens:
            raise InvalidArgumentError("viewer tokens need authentication: drop no_auth")
        if any(not t.strip() for t in self.viewer_tokens) or self.token in self.viewer_tokens:
            raise InvalidArgumentError("viewer tokens must be non-empty and differ from the admin token")
        if self.no_auth and (self.tokens or self.tokens_file):
            raise InvalidArgumentError("named tokens need authentication: drop no_auth")
        for value in self.tokens:
            if split_named(value)[0] is None:
                raise InvalidArgumentError("each of tokens must be NAME=SECRET (a name: a letter, then letters, "
                                           "digits or ._@+-); give the one unnamed token as token")
        return self

    def credentials(self) -> tuple[dict[str, str], dict[str, str]]:
        """``(admins, viewers)``, each ``{name: secret}``: the named tokens, the tokens file's and the unnamed ones
        (``token`` as ``admin``, an unnamed viewer token as ``viewer``, or ``viewer-2``... when there are several).
        InvalidArgumentError for an unreadable tokens file, a bad line, or a name given twice."""
        admins: dict[str, str] = {}
        viewers: dict[str, str] = {}
        if self.tokens_file:
            try:
                text = Path(self.tokens_file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise InvalidArgumentError(f"cannot read the tokens file {self.tokens_file}: "
                                           f"{getattr(exc, 'strerror', None) or exc}") from None
            admins, viewers = parse_tokens_file(text, f"tokens file {self.tokens_file}")

        def add(into: dict[str, str], name: str, secret: str) -> None:
            if name in admins or name in viewers:
                raise InvalidArgumentError(f"the token name {name!r} is given twice")
            into[name] = secret

        if self.token:
            add(admins, "admin", self.token)
        for count, value in enumerate(self.viewer_tokens, 1):
            name, secret = split_named(value)
            add(viewers, name or ("viewer" if count == 1 else f"viewer-{count}"), secret)
        for value in self.tokens:
            name, secret = split_named(value)
            add(admins, name or "admin", secret)
        return admins, viewers

    @model_validator(mode="after")
    def _metrics_access(self) -> Settings:
        if self.metrics_token and self.metrics_public:
            raise InvalidArgumentError("choose either a metrics token or metrics_public, not both")
        if self.metrics_public and not is_loopback(self.host):
            raise InvalidArgumentError(
                f"metrics_public serves /metrics without a token, which is allowed on a loopback "
                f"host only, not {self.host!r}; use a metrics token instead")
        return self

    @model_validator(mode="after")
    def _notify_targets(self) -> Settings:
        for url in self.notify:
            check_notify_url(url, allow_private=self.notify_allow_private)
        return self


class _Environment(EnvSettingsSource):
    """pydantic-settings' reading of the ``JOBDECK_*`` variables, from the mapping given instead of ``os.environ``:
    ``{field: text}``, converted to the fields' types when the settings are validated."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # Exactly the capitalised names (JOBDECK_PORT, not jobdeck_port), as the pydantic lookup is by lower case.
        return {name.lower(): value for name, value in self._environ.items()
                if name.startswith("JOBDECK_") and name == name.upper() and value != ""}


def _number_rule(name: str, value: Any) -> str:
    return f"{name} must be {_NUMBERS[name][0]}, got {value!r}"


def _refusal(exc: ValidationError, from_env: Mapping[str, Any]) -> Exception:
    """The one line for the first error pydantic found: a rule's own message, the variable that could not be
    read (for a value from ``from_env``), or the field and what it must be."""
    errors = exc.errors()
    extra = sorted(str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden")
    if extra:
        return TypeError(f"unknown settings: {', '.join(extra)}")
    error = errors[0]
    if error["type"] == "value_error":  # a rule above: its InvalidArgumentError's text
        return InvalidArgumentError(str(error["ctx"]["error"]))
    name = str(error["loc"][0])
    if name in from_env:
        return InvalidArgumentError(f"environment variable JOBDECK_{name.upper()}={from_env[name]!r} is not a "
                                    f"valid {name}")
    if name in _NUMBERS:
        return InvalidArgumentError(_number_rule(name, error["input"]))
    return InvalidArgumentError(f"{name}: {error['msg']}, got {error['input']!r}")
