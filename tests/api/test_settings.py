"""Settings: arguments beat JOBDECK_* variables beat defaults; bad values are one clear ValueError."""

from __future__ import annotations

import pytest

from jobdeck.cli.settings import Settings, default_store_url, is_loopback
from jobdeck.core.errors import InvalidArgumentError


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert (settings.host, settings.port, settings.prefix, settings.token) == ("127.0.0.1", 8000, "/api/admin/jobs",
                                                                               None)
    assert settings.store_url == default_store_url({})


def test_environment_and_overrides() -> None:
    env = {"JOBDECK_PORT": "9001", "JOBDECK_TOKEN": "t", "JOBDECK_STALE_AFTER": "12.5", "JOBDECK_STORE": "memory://"}
    settings = Settings.from_env(env)
    assert (settings.port, settings.token, settings.stale_after, settings.store_url) == (9001, "t", 12.5,
                                                                                         "memory://")
    assert Settings.from_env(env, port=9002, token=None).port == 9002  # None means "not given"
    assert Settings.from_env(env, port=9002, token=None).token == "t"


def test_default_store_follows_xdg_data_home(tmp_path: object) -> None:
    assert default_store_url({"XDG_DATA_HOME": "/data"}) == "sqlite:////data/jobdeck/jobs.db"
    assert default_store_url({}).endswith("/.local/share/jobdeck/jobs.db")


@pytest.mark.parametrize(("env", "overrides", "message"), [
    ({"JOBDECK_PORT": "eighty"}, {}, "JOBDECK_PORT='eighty' is not a valid port"),
    ({}, {"port": 70000}, "port must be an integer"),
    ({}, {"stale_after": 0}, "stale_after must be a positive number"),
    ({}, {"prefix": "api/"}, "prefix must start with '/'"),
    ({}, {"token": "  "}, "token must not be empty"),
    ({}, {"token": "t", "no_auth": True}, "either a token or no_auth"),
])
def test_bad_values(env: dict[str, str], overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env, **overrides)


def test_unknown_override_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="colour"):
        Settings.from_env({}, colour="blue")


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True),
                                                ("[::1]", True), ("localhost", True), ("0.0.0.0", False),
                                                ("example.com", False), ("10.0.0.1", False)])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_retention_settings_reach_the_store() -> None:
    from jobdeck.cli._serve import _open_store

    env = {"JOBDECK_MAX_PAST_JOBS": "5", "JOBDECK_MAX_PAST_AGE": "3600", "JOBDECK_MAX_MESSAGES": "7"}
    settings = Settings.from_env(env, store="memory://")
    assert (settings.max_past_jobs, settings.max_past_age, settings.max_messages) == (5, 3600.0, 7)
    store, _ = _open_store(settings)
    assert (store.max_past_jobs, store.max_past_age, store.max_messages) == (5, 3600.0, 7)
    store.close()
    defaults = Settings.from_env({})
    assert (defaults.max_past_jobs, defaults.max_past_age, defaults.max_messages) == (1000, None, 1000)
    for bad in ({"max_past_jobs": 0}, {"max_messages": -1}, {"max_past_age": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            Settings(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="JOBDECK_MAX_PAST_JOBS"):
        Settings.from_env({"JOBDECK_MAX_PAST_JOBS": "many"})


def test_lists_booleans_and_durations_from_the_environment() -> None:
    env = {"JOBDECK_NOTIFY": "https://a.example/x, https://b.example/y", "JOBDECK_VIEWER_TOKENS": "v1 v2",
           "JOBDECK_EXTERNAL_TYPES": "A,B", "JOBDECK_METRICS_PUBLIC": "yes", "JOBDECK_NOTIFY_ALLOW_PRIVATE": "0",
           "JOBDECK_SHUTDOWN_GRACE": "2.5", "JOBDECK_MAX_PAST_AGE": "", "JOBDECK_METRICS_PORT": "9100"}
    settings = Settings.from_env(env)
    assert settings.notify == ("https://a.example/x", "https://b.example/y")
    assert (settings.viewer_tokens, settings.external_types) == (("v1", "v2"), ("A", "B"))
    assert (settings.metrics_public, settings.notify_allow_private) == (True, False)
    assert (settings.shutdown_grace, settings.max_past_age, settings.metrics_port) == (2.5, None, 9100)
    with pytest.raises(ValueError, match="JOBDECK_METRICS_PUBLIC='maybe' is not a valid metrics_public"):
        Settings.from_env({"JOBDECK_METRICS_PUBLIC": "maybe"})


def test_only_the_documented_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    # --no-auth, --app and --demo are arguments only; names are matched as spelled (capitals).
    env = {"JOBDECK_NO_AUTH": "1", "JOBDECK_APP": "x:y", "JOBDECK_DEMO": "1", "JOBDECK_PING_INTERVAL": "1",
           "jobdeck_port": "1"}
    settings = Settings.from_env(env)
    assert (settings.no_auth, settings.app, settings.demo, settings.ping_interval, settings.port) == (
        False, None, False, 15.0, 8000)
    monkeypatch.setenv("JOBDECK_PORT", "9005")
    assert Settings().port == 8000  # Settings(...) takes the values given, never the process environment
    assert Settings.from_env().port == 9005


@pytest.mark.parametrize(("values", "message"), [
    ({"port": True}, "port must be an integer from 0 to 65535, got True"),
    ({"stale_after": 0}, "stale_after must be a positive number, got 0$"),
    ({"max_past_jobs": 2.5}, "max_past_jobs must be a whole number of at least 1, got 2.5"),
    ({"metrics_port": "x"}, "metrics_port must be an integer from 0 to 65535, got 'x'"),
    ({"metrics_token": "m", "metrics_public": True}, "either a metrics token or metrics_public"),
    ({"metrics_public": True, "host": "0.0.0.0"}, "allowed on a loopback host only"),
    ({"notify": ("http://127.0.0.1/hook",)}, "points to a loopback address"),
    ({"executor": "local"}, "executor must be a URL"),
])
def test_each_rule_is_one_clear_line(values: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        Settings(**values)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="colour"):
        Settings(colour="blue")  # type: ignore[call-arg]
