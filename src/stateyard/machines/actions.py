"""``POST /action/state_machine/migrate``: move running rows to a newer definition version."""

from __future__ import annotations

import msgspec

from stateyard.actions.directives import Directive, notify, record
from stateyard.actions.registry import ActionCall, ActionRegistry, Performer


class MigrateInput(msgspec.Struct, forbid_unknown_fields=True):
    machine: str
    #: old state -> state of the target version, for states the target version does not have.
    mapping: dict[str, str] = msgspec.field(default_factory=dict)
    to_version: int | None = None
    from_version: int | None = None


async def migrate(call: ActionCall, data: MigrateInput) -> list[Directive]:
    # In the chain's transaction: a declared action's later failure undoes the migration too.
    conn = await call.connection()
    result = await call.platform.machines.migrate_in(
        conn, call.subject, data.machine, data.mapping, data.to_version, data.from_version
    )
    return [
        record("state_machine_migration", result),
        notify(f"Moved {result['migrated']} row(s) of '{data.machine}' to version {result['to_version']}."),
    ]


def register(registry: ActionRegistry) -> None:
    registry.performer(
        Performer(
            "state.migrate",
            MigrateInput,
            migrate,
            "Move object states to another definition version.",
            admin_only=True,
        )
    )
    registry.expose("state_machine", "migrate", "state.migrate", access="admin", label="Migrate running rows")
