"""A scheduled task as declared in a schema file (``scheduled_tasks:`` under ``schema/``)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec


class TaskDef(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """The fields of a ``scheduled_task`` row; ``run_as`` names the account by email (ids differ per install)."""

    name: str
    cron: str
    entity: str
    action: str
    timezone: str = "UTC"
    attributes: dict[str, Any] | None = None
    #: Email of the user account the task runs as; default: the account applying the file (required
    #: when the system applies it, as ``stateyard schema apply`` does).
    run_as: str | None = None
    enabled: bool = True
    misfire: Literal["fire_once", "skip", "fire_all"] = "fire_once"
    overlap: Literal["skip", "allow", "queue_one"] = "skip"
    max_attempts: int = 3
