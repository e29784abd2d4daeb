"""Settings, read from environment variables."""

import logging
import re
import secrets
import tempfile
import warnings
from functools import cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

logger = logging.getLogger(__name__)

# HS256 wants a key at least as long as its 32-byte output (RFC 7518, 3.2);
# PyJWT warns on every signature made with a shorter one.
MIN_SECRET_KEY_BYTES = 32
_ORIGIN = re.compile(r"https?://[^/\s:]+(:\d{1,5})?")


class InsecureSecretKeyWarning(UserWarning):
    """SECRET_KEY is not set: tokens are signed with a throwaway key."""


class Settings(BaseSettings):
    """Configuration of the service.

    Each field is read from the environment variable of the same name in
    capitals (`DATABASE_URL`, `SECRET_KEY`, ...); an empty variable counts as
    unset. Pass values as keyword arguments to build settings in code.
    """

    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore")

    # A file named for the package: course_app.db, or my_app.db in a
    # learner's copy (coursekit.catch_up), in the folder the app runs from.
    database_url: str = f"sqlite:///./{__package__}.db"
    secret_key: SecretStr | None = None
    access_token_expire_minutes: int = Field(default=30, ge=1)
    cache_ttl_seconds: float = Field(default=5.0, ge=0, allow_inf_nan=False)
    db_pool_size: int = Field(default=5, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    db_pool_timeout: float = Field(default=30.0, gt=0, allow_inf_nan=False)
    # Recycle connections before common server-side idle timeouts (MySQL: 8 h,
    # many cloud proxies: less) close them under our feet; -1 turns it off.
    db_pool_recycle: int = Field(default=1800, ge=-1)
    # Chapter 7: a Redis that the workers (and several apps) share, e.g.
    # redis://127.0.0.1:6379/0. Unset, each worker keeps its own cache and
    # logins are not limited, as in chapter 6: Redis is for production.
    redis_url: str | None = None
    # Keys in Redis start with this, so that apps sharing one Redis (the
    # reference and a learner's copy, two deployments) keep apart.
    redis_key_prefix: str = Field(default=f"{__package__}:", min_length=1)
    # Chapter 7 (with REDIS_URL): login attempts allowed per client address
    # and username in a minute; enough for typos, too few to guess passwords.
    login_attempts_per_minute: int = Field(default=5, ge=1)
    # Chapter 8: the browser origins allowed to call the API from their
    # pages, as a JSON list in CORS_ORIGINS ('["https://app.example.com"]').
    # None by default: a page on another site can link here, not read.
    cors_origins: list[str] = []
    # Chapter 8: where welcome e-mails are delivered, one .eml file each,
    # and the seconds a delivery takes (a real mail server's pace). In the
    # temporary folder by default, which any server process (a container's
    # unprivileged user, a test's) may write to, unlike the folder it runs in.
    outbox_dir: Path = Path(tempfile.gettempdir()) / f"{__package__}-outbox"
    mail_delay_seconds: float = Field(default=0.0, ge=0, le=30, allow_inf_nan=False)

    @field_validator("secret_key")
    @classmethod
    def _secret_key_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            size = len(value.get_secret_value().encode())
            if size < MIN_SECRET_KEY_BYTES:
                raise ValueError(
                    f"SECRET_KEY is {size} bytes long; use at least "
                    f"{MIN_SECRET_KEY_BYTES}, e.g. the output of "
                    '`python -c "import secrets; print(secrets.token_urlsafe(32))"`'
                )
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins_are_origins(cls, value: list[str]) -> list[str]:
        # A browser sends its Origin as scheme://host[:port], nothing more:
        # "https://app.example.com/" (a trailing slash) would never match.
        for origin in value:
            if origin != "*" and _ORIGIN.fullmatch(origin) is None:
                raise ValueError(
                    f"{origin!r} is not an origin: write scheme://host or "
                    "scheme://host:port, with no path and no trailing slash, "
                    'e.g. "https://app.example.com"'
                )
        return value

    @property
    def signing_key(self) -> str:
        """The secret key as a string, to sign and check tokens with."""
        if self.secret_key is None:
            raise RuntimeError(
                "SECRET_KEY is not set; create_app() provides a key for the "
                "chapters that need one"
            )
        return self.secret_key.get_secret_value()


@cache
def get_settings() -> Settings:
    """The settings of this process, read from the environment once."""
    return Settings()


@cache
def _process_secret_key() -> str:
    # One throwaway key per process, so that every app built in this process
    # accepts the tokens of the others.
    return secrets.token_urlsafe(32)


def ensure_secret_key(settings: Settings) -> Settings:
    """Return `settings` with a secret key, making a throwaway one if unset.

    A fixed default key would let anyone who has read this source forge
    tokens, so there is none: without SECRET_KEY every process signs with its
    own random key, and says so loudly.
    """
    if settings.secret_key is not None:
        return settings
    message = (
        "SECRET_KEY is not set: signing tokens with a random key made for this "
        "process only. Tokens will not survive a restart and will not work "
        "across workers. Set SECRET_KEY in the environment, e.g. "
        "export SECRET_KEY=\"$(python -c 'import secrets; "
        "print(secrets.token_urlsafe(32))')\""
    )
    # stacklevel 3 points at the code that called create_app().
    warnings.warn(message, InsecureSecretKeyWarning, stacklevel=3)
    logger.warning(message)
    return settings.model_copy(update={"secret_key": SecretStr(_process_secret_key())})
