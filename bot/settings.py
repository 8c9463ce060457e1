"""All configuration, read once at start-up from the environment and `.env`, then passed down."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.engine.matcher import Thresholds

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_KNOWLEDGE = PROJECT_ROOT / "knowledge" / "faq.json"
DEFAULT_DATA_DIR = PROJECT_ROOT / "data"


class ConfigError(Exception):
    """A setting has a bad value; the message is one line naming the setting."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    bot_token: SecretStr | None = None
    telegram_api_url: AnyHttpUrl = AnyHttpUrl("https://api.telegram.org")
    knowledge_file: Path = DEFAULT_KNOWLEDGE
    contact_email: str = ""

    answer_threshold: float = Field(default=Thresholds().answer, ge=0, le=1)
    suggest_threshold: float = Field(default=Thresholds().suggest, ge=0, le=1)
    answer_margin: float = Field(default=Thresholds().margin, ge=0, le=1)
    follow_up_ttl: float = Field(default=600, gt=0)

    drop_pending_updates: bool = True
    webhook_url: AnyHttpUrl | None = None
    webhook_secret: SecretStr | None = None
    webhook_host: str = "127.0.0.1"
    webhook_port: int = Field(default=8080, ge=1, le=65535)
    webhook_path: str = "/telegram/webhook"

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # aiogram's Telegram types built on first use, not all at import (telegram.aiogram_import).
    aiogram_deferred_import: bool = True

    # Support operations: the database, the operators' forum group, the admins.
    data_dir: Path = DEFAULT_DATA_DIR
    timezone: str = "Asia/Ho_Chi_Minh"
    retention_days: int = Field(default=90, ge=1, le=3650)
    operator_chat_id: int | None = None
    handoff_timeout: float = Field(default=900, gt=0)
    operator_rate: int = Field(default=20, ge=1, le=600)
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()

    # Several instances: a database and a Redis they share. Unset: SQLite under DATA_DIR and
    # every piece of state in this one process.
    database_url: SecretStr | None = None  # sqlite:///PATH or postgresql://USER@HOST/DB
    redis_url: SecretStr | None = None  # redis://HOST:PORT/DB
    # Every key the bot writes in Redis starts with this: two bots can share one server.
    redis_prefix: str = Field(default="bot", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")

    # Flood control: each user may send `flood_burst` messages at once, then `flood_rate`
    # messages a second on average.
    flood_rate: float = Field(default=1.0, gt=0)
    flood_burst: int = Field(default=5, ge=1)
    # And each group together (Telegram lets a bot send about 20 messages a minute to a
    # group): `group_flood_burst` at once, then `group_flood_per_minute` a minute.
    group_flood_per_minute: float = Field(default=20.0, gt=0)
    group_flood_burst: int = Field(default=5, ge=1)

    @field_validator("bot_token", mode="before")
    @classmethod
    def _token_shape(cls, value: object) -> object:
        if value is None or value == "":
            return None
        text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        head, _, tail = text.strip().partition(":")
        if not head.isdigit() or not tail:
            # Never echo the value: it is a secret even when malformed.
            raise ValueError("expected the form 123456:ABC... given by @BotFather")
        return text.strip()

    @field_validator("contact_email")
    @classmethod
    def _email(cls, value: str) -> str:
        value = value.strip()
        if value and ("@" not in value or " " in value or "protected" in value):
            raise ValueError("not an email address")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _secret_shape(cls, value: object) -> object:
        if value is None or value == "":
            return None
        text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        # Telegram's rule for secret_token; never echo the value.
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", text):
            raise ValueError("1-256 characters, only A-Z, a-z, 0-9, _ and -")
        return text

    @field_validator("operator_chat_id", mode="before")
    @classmethod
    def _operator_chat(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value.strip())
        if isinstance(value, int) and value >= 0:
            # Users have positive ids; a group's id is negative (-100… for a supergroup).
            raise ValueError(
                "must be the operator group's id, a negative number like -1001234567890"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value.strip())
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown time zone, expected a name like Asia/Ho_Chi_Minh") from None
        return value.strip()

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _admin_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p for p in re.split(r"[\s,;]+", value) if p]
            if not all(p.isdigit() for p in parts):
                raise ValueError("expected Telegram user ids separated by commas, like 123,456")
            return frozenset(int(p) for p in parts)
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        scheme = value.get_secret_value().strip().partition(":")[0].lower()
        if scheme.partition("+")[0] not in ("sqlite", "postgresql", "postgres"):
            # The value itself is never echoed: it may hold a password.
            raise ValueError("must start with sqlite:/// or postgresql://")
        return SecretStr(value.get_secret_value().strip())

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        url = value.get_secret_value().strip()
        if url.partition(":")[0].lower() not in ("redis", "rediss", "unix"):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return SecretStr(url)

    @field_validator("webhook_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with /")
        return value

    @model_validator(mode="after")
    def _thresholds(self) -> Settings:
        if self.suggest_threshold > self.answer_threshold:
            raise ValueError("SUGGEST_THRESHOLD must not be above ANSWER_THRESHOLD")
        return self

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(
            answer=self.answer_threshold,
            suggest=self.suggest_threshold,
            margin=self.answer_margin,
        )

    @property
    def zone(self) -> ZoneInfo:
        """Where "today" is, for the statistics."""
        return ZoneInfo(self.timezone)

    @property
    def database(self) -> str:
        """Where the bot's database is: DATABASE_URL, else SQLite under DATA_DIR."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.data_dir / 'bot.sqlite3'}"

    @property
    def api_base(self) -> str:
        return str(self.telegram_api_url).rstrip("/")


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, or ConfigError naming the first bad setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "_".join(str(p) for p in first["loc"]).upper() or "SETTINGS"
        message = first["msg"].removeprefix("Value error, ")
        if name == "SETTINGS" and "_THRESHOLD" in message:
            raise ConfigError(f"Cấu hình không hợp lệ: {message}") from None
        raise ConfigError(f"Cấu hình không hợp lệ: {name}: {message}") from None
