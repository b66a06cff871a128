"""Settings: arguments beat JOBDECK_* variables beat defaults; bad values are one clear ValueError."""

from __future__ import annotations

import pytest

from jobdeck.cli.settings import Settings, default_store_url, is_loopback


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
