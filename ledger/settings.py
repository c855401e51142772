"""Configuration, read once from ``LEDGER_*`` environment variables into one immutable object.

Nothing else in the code base reads the environment: the CLI builds a ``Settings`` and hands
it to whatever needs it, which keeps tests and processes explicit about their configuration.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from .domain.checkpoint import valid_key_name
from .domain.envelope import DEFAULT_MAX_EVENT_BYTES
from .domain.errors import ValidationError

APP_NAME = "deal-ledger"
# The ledger's name unless told (LEDGER_ORIGIN): the checkpoints' origin line and the signing
# key's name, a schema-less URL as C2SP recommends. A ledger others audit needs its own.
DEFAULT_ORIGIN = "localhost/deal-ledger"
EMBEDDED_KEY_FILE = "checkpoint.key"  # in the data directory, made on the first start

# Every variable the ledger reads, with what it means; `ledger config` prints them.
VARIABLES: dict[str, str] = {
    "LEDGER_DATABASE_URL": "PostgreSQL URL the service uses; unset = start the embedded server",
    "LEDGER_READ_DATABASE_URL": "PostgreSQL URL questions are served from, e.g. standbys with target_session_attrs=prefer-standby (default: LEDGER_DATABASE_URL)",
    "LEDGER_OWNER_DATABASE_URL": "URL of the schema owner, for `ledger db upgrade` (default: LEDGER_DATABASE_URL)",
    "LEDGER_APP_ROLE": "role the service acts as, with only SELECT and INSERT on events ('' = none)",
    "LEDGER_DATA_DIR": "where the embedded PostgreSQL keeps its data (default: the user data directory)",
    "LEDGER_HOST": "address `ledger serve` listens on",
    "LEDGER_PORT": "port `ledger serve` listens on",
    "LEDGER_MIGRATE_ON_START": "apply migrations when the service starts (default: only when embedded)",
    "LEDGER_SEED": "load the bundled AI deal web when the service starts (default: only when embedded)",
    "LEDGER_MAX_EVENT_BYTES": "largest event (data, source and metadata as JSON) an append accepts",
    "LEDGER_ENV": "local (default) or production",
    "LEDGER_LOG_LEVEL": "debug, info, warning or error",
    "LEDGER_STATEMENT_TIMEOUT_MS": "longest a single SQL statement of the service may run (0 = no limit)",
    "LEDGER_NATS_URL": "NATS server(s) `ledger relay` publishes the log to (nats://host:4222; unset = none)",
    "LEDGER_READ_WAIT_MS": "longest a read waits for the log or the read models to reach what it needs (then NOT_YET_KNOWN)",
    "LEDGER_ORIGIN": "the ledger's name: its checkpoints' origin line and its signing key's name",
    "LEDGER_CORS_ORIGINS": "origins (comma-separated, e.g. https://dash.example.com) whose browser pages may call the API (unset = no CORS headers)",
    "LEDGER_CHECKPOINT_KEY_FILE": "the checkpoints' Ed25519 signing key (`ledger checkpoint keygen`; default: none, or one made in the data directory when embedded)",
}

# The Settings field each variable fills (`ledger config` shows its value in effect).
FIELDS: dict[str, str] = {
    "LEDGER_DATABASE_URL": "database_url",
    "LEDGER_OWNER_DATABASE_URL": "owner_database_url",
    "LEDGER_READ_DATABASE_URL": "read_database_url",
    "LEDGER_APP_ROLE": "app_role",
    "LEDGER_DATA_DIR": "data_dir",
    "LEDGER_HOST": "host",
    "LEDGER_PORT": "port",
    "LEDGER_MIGRATE_ON_START": "migrate_on_start",
    "LEDGER_SEED": "seed_on_start",
    "LEDGER_MAX_EVENT_BYTES": "max_event_bytes",
    "LEDGER_ENV": "env",
    "LEDGER_LOG_LEVEL": "log_level",
    "LEDGER_STATEMENT_TIMEOUT_MS": "statement_timeout_ms",
    "LEDGER_READ_WAIT_MS": "read_wait_ms",
    "LEDGER_ORIGIN": "origin",
    "LEDGER_CHECKPOINT_KEY_FILE": "checkpoint_key_file",
    "LEDGER_NATS_URL": "nats_url",
    "LEDGER_CORS_ORIGINS": "cors_origins",
}


def _bool(name: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValidationError(name, f"expected true or false, got {text!r}")


def _int(name: str, text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValidationError(name, f"expected an integer, got {text!r}") from None
    if value < minimum:
        raise ValidationError(name, f"must be at least {minimum}, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None = None
    owner_database_url: str | None = None
    read_database_url: str | None = None
    app_role: str = "ledger_app"
    data_dir: Path = field(default_factory=lambda: Path(platformdirs.user_data_dir(APP_NAME)))
    host: str = "127.0.0.1"
    port: int = 8000
    migrate_on_start: bool | None = None
    seed_on_start: bool | None = None
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    env: str = "local"
    log_level: str = "info"
    statement_timeout_ms: int = 30_000
    read_wait_ms: int = 5_000
    origin: str = DEFAULT_ORIGIN
    checkpoint_key_file: Path | None = None
    nats_url: str | None = None
    cors_origins: tuple[str, ...] = ()

    @property
    def embedded(self) -> bool:
        """No server was named, so the ledger runs its own PostgreSQL from a wheel."""
        return self.database_url is None

    @property
    def production(self) -> bool:
        """Keys on every request, no introspection, no GraphiQL, private caching: decided
        here alone, so the web app, the export and the callers' check agree."""
        return self.env == "production"

    @property
    def should_migrate_on_start(self) -> bool:
        return self.embedded if self.migrate_on_start is None else self.migrate_on_start

    @property
    def should_seed_on_start(self) -> bool:
        """A newcomer's embedded ledger starts with the deal web in it; a named server only
        when asked (its ledger is someone's data)."""
        return self.embedded if self.seed_on_start is None else self.seed_on_start

    @property
    def checkpoint_key_path(self) -> Path | None:
        """The file of the key that signs checkpoints: the one named, else (embedded only)
        the one in the data directory, made on the first start; None = no checkpoints."""
        if self.checkpoint_key_file is not None:
            return self.checkpoint_key_file
        return self.data_dir / EMBEDDED_KEY_FILE if self.embedded else None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        unknown = sorted(k for k in env if k.startswith("LEDGER_") and k not in VARIABLES)
        unknown = [k for k in unknown if not k.startswith("LEDGER_TEST_")]
        if unknown:
            raise ValidationError(
                unknown[0], f"unknown setting; known: {', '.join(sorted(VARIABLES))}"
            )
        values: dict[str, object] = {}
        if url := env.get("LEDGER_DATABASE_URL", "").strip():
            values["database_url"] = url
        if url := env.get("LEDGER_READ_DATABASE_URL", "").strip():
            values["read_database_url"] = url
        if url := env.get("LEDGER_OWNER_DATABASE_URL", "").strip():
            values["owner_database_url"] = url
        if "LEDGER_APP_ROLE" in env:
            values["app_role"] = env["LEDGER_APP_ROLE"].strip()
        if text := env.get("LEDGER_DATA_DIR", "").strip():
            values["data_dir"] = Path(text).expanduser()
        if text := env.get("LEDGER_HOST", "").strip():
            values["host"] = text
        if text := env.get("LEDGER_PORT", "").strip():
            values["port"] = _int("LEDGER_PORT", text, 0)
        if text := env.get("LEDGER_MIGRATE_ON_START", "").strip():
            values["migrate_on_start"] = _bool("LEDGER_MIGRATE_ON_START", text)
        if text := env.get("LEDGER_SEED", "").strip():
            values["seed_on_start"] = _bool("LEDGER_SEED", text)
        if text := env.get("LEDGER_MAX_EVENT_BYTES", "").strip():
            values["max_event_bytes"] = _int("LEDGER_MAX_EVENT_BYTES", text, 1024)
        if text := env.get("LEDGER_ENV", "").strip():
            if text not in ("local", "production"):
                raise ValidationError("LEDGER_ENV", f"expected local or production, got {text!r}")
            values["env"] = text
        if text := env.get("LEDGER_LOG_LEVEL", "").strip():
            if text.lower() not in ("debug", "info", "warning", "error"):
                raise ValidationError("LEDGER_LOG_LEVEL", f"unknown level {text!r}")
            values["log_level"] = text.lower()
        if text := env.get("LEDGER_STATEMENT_TIMEOUT_MS", "").strip():
            values["statement_timeout_ms"] = _int("LEDGER_STATEMENT_TIMEOUT_MS", text, 0)
        if text := env.get("LEDGER_READ_WAIT_MS", "").strip():
            values["read_wait_ms"] = _int("LEDGER_READ_WAIT_MS", text, 0)
        if text := env.get("LEDGER_ORIGIN", "").strip():
            if not valid_key_name(text):
                raise ValidationError("LEDGER_ORIGIN", "a name with no spaces and no '+'")
            values["origin"] = text
        if text := env.get("LEDGER_CHECKPOINT_KEY_FILE", "").strip():
            values["checkpoint_key_file"] = Path(text).expanduser()
        if url := env.get("LEDGER_NATS_URL", "").strip():
            values["nats_url"] = url
        if text := env.get("LEDGER_CORS_ORIGINS", "").strip():
            origins = tuple(o.strip().rstrip("/") for o in text.split(",") if o.strip())
            bad = [o for o in origins if o != "*" and "://" not in o]
            if bad:
                raise ValidationError(
                    "LEDGER_CORS_ORIGINS", f"an origin is scheme://host[:port], got {bad[0]!r}"
                )
            values["cors_origins"] = origins
        if "read_database_url" in values and "database_url" not in values:
            raise ValidationError(
                "LEDGER_READ_DATABASE_URL",
                "needs LEDGER_DATABASE_URL (the embedded server has no standbys)",
            )
        role = values.get("app_role", "ledger_app")
        if role and not str(role).replace("_", "a").isalnum():
            raise ValidationError("LEDGER_APP_ROLE", "letters, digits and underscores only")
        return cls(**values)  # type: ignore[arg-type]
