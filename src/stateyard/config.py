"""Settings, read once from ``STATEYARD_*`` environment variables.

Everything configurable lives here so that a deployment is described by its environment
alone; code receives a :class:`Settings` value and never reads ``os.environ`` itself.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import msgspec

DEFAULT_DATABASE_URL = "sqlite:///./stateyard.db"


class Settings(msgspec.Struct, kw_only=True):
    database_url: str = DEFAULT_DATABASE_URL
    #: PostgreSQL schema to work in (search_path); lets several installs share one database.
    database_schema: str | None = None
    #: Connections kept open per process (PostgreSQL; SQLite readers). Size it to the expected concurrency.
    database_pool_size: int = 20
    #: Signs tokens and derives the key that encrypts secrets at rest.
    secret_key: str | None = None
    #: Where a generated secret key is kept when ``secret_key`` is not given.
    key_file: str = "./stateyard.key"
    schema_dir: str = "./schema"
    fixtures_dir: str = "./fixtures"
    host: str = "127.0.0.1"
    port: int = 8080
    admin_email: str | None = None
    admin_password: str | None = None
    token_ttl_seconds: int = 24 * 3600
    #: How long an emailed password reset code stays usable.
    password_reset_code_ttl_seconds: int = 15 * 60
    token_issuer: str = "stateyard"  # noqa: S105 - an issuer name, not a secret
    max_body_bytes: int = 10 * 1024 * 1024
    default_page_size: int = 25
    max_page_size: int = 500
    #: How often a process checks whether another process changed entity definitions.
    schema_poll_seconds: float = 1.0
    #: Most related rows embedded per parent row by ``include`` of a has_many/many_to_many relation.
    include_limit: int = 100
    log_level: str = "info"
    #: "system", or "file:<path>" to read the time from a file (simulations and multi-process tests only).
    clock: str = "system"
    #: Outbound mail (mail.send, password reset codes); no host means mail is off.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_security: Literal["none", "starttls", "ssl"] = "none"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_timeout_seconds: float = 10.0
    mail_from: str = "stateyard@localhost"
    #: Outbound HTTP (http.request) refuses loopback, private, link-local and reserved addresses
    #: unless one of these CIDRs (``127.0.0.1/32``) or host names (``localhost``) allows them;
    #: the environment variable takes them comma-separated.
    http_allow: list[str] = msgspec.field(default_factory=list)
    #: Jobs: run an embedded worker in `stateyard serve` (`--no-worker` turns it off).
    run_worker: bool = True
    worker_concurrency: int = 4
    #: How often an idle worker looks for due jobs and tasks.
    worker_poll_seconds: float = 0.2
    #: A running job's lease; a worker renews it every third of it, a dead worker's job is retried after it.
    job_lease_seconds: float = 30.0
    #: Imports: the largest file (an upload is also bounded by max_body_bytes), the most rows, rows per
    #: committed batch, and the most row errors an answer lists (all are counted).
    import_max_bytes: int = 512 * 1024 * 1024
    import_max_rows: int = 1_000_000
    import_batch_size: int = 1000
    import_max_errors: int = 1000
    #: XLSX imports: the most an archive may unpack to, and the most a part may grow when unpacked.
    xlsx_max_uncompressed_bytes: int = 512 * 1024 * 1024
    xlsx_max_ratio: float = 100.0
    #: How long the signed link of an export works.
    export_link_ttl_seconds: int = 300
    #: argon2 cost; the defaults follow the argon2-cffi recommendation (tests lower them for speed).
    password_hash_time_cost: int = 3
    password_hash_memory_kib: int = 65536

    def resolved_secret_key(self) -> str:
        """The configured key, or one generated once and kept in ``key_file`` (mode 0600)."""
        if self.secret_key:
            return self.secret_key
        path = Path(self.key_file)
        if path.exists():
            return path.read_text().strip()
        key = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key + "\n")
        return key


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build settings from ``STATEYARD_<FIELD>`` variables; keyword overrides win."""
    env = os.environ if environ is None else environ
    raw: dict[str, object] = {}
    for field in msgspec.structs.fields(Settings):
        value = env.get("STATEYARD_" + field.name.upper())
        if value is not None and value != "":
            is_list = getattr(field.type, "__origin__", None) is list
            raw[field.name] = [v.strip() for v in value.split(",") if v.strip()] if is_list else value
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SystemExit(f"invalid STATEYARD_* setting: {exc}") from exc
