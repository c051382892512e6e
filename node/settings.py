"""The one settings object of a node, read from the environment and the instance folder."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

SETTINGS_FILE = "mutualaid.toml"
SECRET_FILE = "secret_key"  # noqa: S105  (a file name)
# Placeholders people paste from examples; a production node must not run on them.
WEAK_SECRETS = {"changeme", "change-me", "secret", "dev", "development", "you-will-never-guess"}
MIN_SECRET_LENGTH = 32


class ConfigurationError(Exception):
    """The node's settings do not allow it to start."""


def default_instance_path() -> Path:
    """Where local state lives unless MUTUALAID_INSTANCE_PATH says otherwise."""
    return Path(os.environ.get("MUTUALAID_INSTANCE_PATH", "instance")).resolve()


class Settings(BaseSettings):
    """Every setting of a node. Environment variables are named MUTUALAID_<FIELD>."""

    model_config = SettingsConfigDict(env_prefix="MUTUALAID_", extra="ignore")

    env: Literal["development", "production", "testing"] = "development"
    instance_path: Path = Field(default_factory=default_instance_path)
    secret_key: str | None = None
    database_url: str | None = None
    broker_url: str | None = None
    redis_url: str | None = None

    node_name: str = "Neighbourhood node"
    public_url: str = "http://127.0.0.1:5000"
    role: Literal["neighbourhood", "federation"] = "neighbourhood"
    join_policy: Literal["open", "invite"] = "invite"
    steward_max_term_days: int = Field(default=365, ge=1, le=3650)
    invitation_days: int = Field(default=14, ge=1, le=365)
    # Coarsest detail a shared area may carry: H3 resolution 8 is about 0.7 km².
    h3_resolution: int = Field(default=8, ge=0, le=10)
    extra_categories: list[str] = Field(default_factory=list)
    # The first-level administrative area (state, province) named in HXL exports (#adm1).
    hxl_adm1: str = Field(default="", max_length=120)
    extensions: list[str] = Field(default_factory=lambda: ["federation", "delegates", "workers"])
    max_request_bytes: int = Field(default=1_000_000, ge=1024)
    login_rate_limit: str = "10 per minute"
    page_size_max: int = Field(default=100, ge=1, le=1000)
    log_level: str = "INFO"
    # Federation councils (docs/delegates.md): how a delegate's new proposal is decided.
    council_method: Literal["consensus", "consent", "majority", "supermajority"] = "majority"
    council_quorum_percent: int = Field(default=50, ge=0, le=100)
    # A federation's area (H3 cells): an incident it declares must lie within it.
    federation_area_cells: list[str] = Field(default_factory=list)
    # An incident declared under the emergency rule lapses unless the council ratifies it by then.
    incident_ratify_hours: int = Field(default=72, ge=1, le=720)
    # An accepted pledge with no progress for this long may be taken over by another node; a
    # take-over request the owner has not decided on is approved after takeover_approve_minutes.
    pledge_stall_minutes: int = Field(default=720, ge=1, le=43200)
    takeover_approve_minutes: int = Field(default=60, ge=1, le=10080)
    # The neighbourhood's H3 cell, offered as the area of a new need or offer in the web pages.
    default_area_cell: str | None = None
    # "json": one JSON object per line for log collectors; "text": plain lines for a terminal.
    log_format: Literal["json", "text"] = "json"

    # Projects, shifts and the tool library (docs/projects.md).
    time_zone: str = "UTC"
    coordinator_term_limit: int = Field(default=2, ge=1, le=52)
    rotation_lookback_days: int = Field(default=90, ge=1, le=730)
    shift_weeks_ahead: int = Field(default=8, ge=1, le=52)
    library_max_holds: int = Field(default=3, ge=0, le=100)
    library_max_loan_days: int = Field(default=28, ge=1, le=365)
    hold_ready_days: int = Field(default=3, ge=1, le=60)
    overdue_reminder_days: int = Field(default=3, ge=1, le=60)
    upload_max_bytes: int = Field(default=5_000_000, ge=1024, le=50_000_000)

    # Email notifications; without smtp_host they wait in the database until one is set.
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_security: Literal["none", "starttls", "ssl"] = "none"
    smtp_timeout: float = Field(default=10.0, gt=0, le=300)
    mail_from: str = "mutualaid@localhost"
    digest_hour: int = Field(default=7, ge=0, le=23)
    notify_max_attempts: int = Field(default=8, ge=1, le=50)
    # How often the worker's timer queues reminders and sends pending mail (seconds).
    notify_interval: float = Field(default=300.0, ge=10, le=86_400)
    # Encrypts the node's private key file at rest when set.
    key_passphrase: str | None = None

    # Delivery to peers (federation/outbox.py) and the workers that drain it (workers/).
    outbox_batch_size: int = Field(default=200, ge=1, le=1000)
    outbox_batch_max_bytes: int = Field(default=512_000, ge=16_384)
    outbox_http_timeout: float = Field(default=20.0, gt=0, le=300)
    outbox_lease_seconds: float = Field(default=90.0, gt=0, le=3600)
    outbox_drain_seconds: float = Field(default=60.0, gt=0, le=3600)
    outbox_backoff_base: float = Field(default=1.0, gt=0, le=600)
    outbox_backoff_cap: float = Field(default=3600.0, gt=0, le=86_400)
    outbox_unreachable_after: int = Field(default=8, ge=1, le=1000)
    sweep_interval: float = Field(default=15.0, gt=0, le=3600)
    # How often the worker's timer decides what is due in assemblies (seconds).
    close_due_interval: float = Field(default=60.0, ge=5, le=86_400)
    # How long envelopes are kept for catch-up and dedupe (at least 90 days: plan, issue 3).
    feed_retention_days: int = Field(default=90, ge=90, le=3650)
    celery_queue: str = "mutualaid"
    worker_concurrency: int = Field(default=4, ge=1, le=64)
    # The federation inbox (federation/inbox.py): limits per batch and per sending node.
    inbox_max_bytes: int = Field(default=4_000_000, ge=65_536, le=100_000_000)
    inbox_max_envelopes: int = Field(default=1000, ge=1, le=10_000)
    inbox_rate_limit: str = "600 per minute"

    @field_validator("instance_path")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.resolve()

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Europe/Madrid") from None
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Explicit arguments win over the environment, which wins over the instance file.
        toml_path = _instance_from(init_settings) / SETTINGS_FILE
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_path))

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL, defaulting to SQLite in the instance folder."""
        return self.database_url or f"sqlite:///{self.instance_path / 'mutualaid.sqlite3'}"

    @property
    def celery_broker_url(self) -> str:
        """The broker URL; the embedded default needs no server (kombu's SQLAlchemy transport)."""
        return self.broker_url or f"sqla+sqlite:///{self.instance_path / 'broker.sqlite3'}"

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def secure_cookies(self) -> bool:
        """Whether cookies travel over HTTPS only: in production, or when the node's URL is https."""
        return self.is_production or self.public_url.startswith("https://")

    def resolve_secret(self) -> str:
        """Return the secret key, creating one in the instance folder outside production."""
        if self.secret_key:
            _check_secret(self.secret_key)
            return self.secret_key
        path = self.instance_path / SECRET_FILE
        if path.exists():
            value = path.read_text().strip()
            _check_secret(value)
            return value
        if self.is_production:
            raise ConfigurationError(
                "production mode needs a real secret: set MUTUALAID_SECRET_KEY "
                f"(at least {MIN_SECRET_LENGTH} random characters) or run 'mutualaid init'"
            )
        return write_secret(path)


def _instance_from(init_settings: PydanticBaseSettingsSource) -> Path:
    given = init_settings().get("instance_path")
    return Path(given).resolve() if given else default_instance_path()


def _check_secret(value: str) -> None:
    if len(value) < MIN_SECRET_LENGTH or value.lower() in WEAK_SECRETS:
        raise ConfigurationError(
            f"the secret key is too weak: use at least {MIN_SECRET_LENGTH} random characters"
        )


def write_secret(path: Path) -> str:
    """Create a new random secret readable only by this user and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def load_settings(config: Settings | dict[str, Any] | None = None) -> Settings:
    """Build the settings from explicit values, the environment and the instance file."""
    if isinstance(config, Settings):
        return config
    return Settings(**(config or {}))
