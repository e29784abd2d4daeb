import logging

import pytest
from pydantic import ValidationError

from course_app.config import (
    InsecureSecretKeyWarning,
    Settings,
    ensure_secret_key,
    get_settings,
)

KEY = "k" * 32


def test_defaults() -> None:
    settings = Settings()
    assert settings.database_url == "sqlite:///./course_app.db"
    assert settings.secret_key is None
    assert settings.access_token_expire_minutes == 30
    assert settings.cache_ttl_seconds == 5
    assert settings.db_pool_size == 5
    assert settings.db_max_overflow == 10
    assert settings.db_pool_timeout == 30
    assert settings.db_pool_recycle == 1800


def test_read_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://app@db/app")
    monkeypatch.setenv("SECRET_KEY", KEY)
    monkeypatch.setenv("ACCESS_TOKEN_EXPIRE_MINUTES", "15")
    monkeypatch.setenv("CACHE_TTL_SECONDS", "0.5")
    monkeypatch.setenv("DB_POOL_SIZE", "20")
    monkeypatch.setenv("DB_MAX_OVERFLOW", "0")
    monkeypatch.setenv("DB_POOL_TIMEOUT", "2.5")
    monkeypatch.setenv("DB_POOL_RECYCLE", "-1")
    settings = Settings()
    assert settings.database_url == "postgresql+psycopg://app@db/app"
    assert settings.signing_key == KEY
    assert settings.access_token_expire_minutes == 15
    assert settings.cache_ttl_seconds == 0.5
    assert (settings.db_pool_size, settings.db_max_overflow) == (20, 0)
    assert (settings.db_pool_timeout, settings.db_pool_recycle) == (2.5, -1)


def test_arguments_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "sqlite:///from-env.db")
    assert Settings(database_url="sqlite://").database_url == "sqlite://"


def test_empty_secret_key_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", "")
    assert Settings().secret_key is None


def test_short_secret_key_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(secret_key="too short")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ACCESS_TOKEN_EXPIRE_MINUTES", "0"),
        ("CACHE_TTL_SECONDS", "-1"),
        ("CACHE_TTL_SECONDS", "nan"),
        ("DB_POOL_SIZE", "0"),
        ("DB_POOL_TIMEOUT", "inf"),
    ],
)
def test_invalid_values_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_secret_key_is_hidden_from_repr() -> None:
    settings = Settings(secret_key=KEY)
    assert KEY not in repr(settings)
    assert KEY not in str(settings.model_dump())


def test_get_settings_reads_the_environment_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CACHE_TTL_SECONDS", "7")
    first = get_settings()
    monkeypatch.setenv("CACHE_TTL_SECONDS", "8")
    assert get_settings() is first
    assert first.cache_ttl_seconds == 7


def test_ensure_secret_key_keeps_a_configured_key() -> None:
    settings = Settings(secret_key=KEY)
    assert ensure_secret_key(settings) is settings


def test_ensure_secret_key_warns_and_makes_a_process_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings()
    with pytest.warns(InsecureSecretKeyWarning, match="SECRET_KEY is not set"):
        first = ensure_secret_key(settings)
    assert "restart" in caplog.text
    assert "workers" in caplog.text
    assert any(record.levelno == logging.WARNING for record in caplog.records)
    assert settings.secret_key is None  # the input is left alone
    assert len(first.signing_key) >= 32
    with pytest.warns(InsecureSecretKeyWarning):
        second = ensure_secret_key(Settings())
    # One key per process: every app in it accepts the others' tokens.
    assert second.signing_key == first.signing_key


def test_signing_key_without_a_key_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        _ = Settings().signing_key
