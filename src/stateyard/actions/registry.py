"""The registry of performers and the built-in actions that expose them.

A performer is one module's worth of behaviour: a name, a msgspec Struct describing its
input, and one async function ``(call, input) -> PerformerResult``. A performer can be an
outcome of any declared action (``{"type": "mail.send", ...}``); a built-in action binds one
to ``<entity>/<name>`` (``*`` for every entity) with the access it needs. Adding a performer
is one module with a ``register(registry)`` function.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncTransaction

from stateyard.actions.directives import Directive
from stateyard.auth.permissions import Subject
from stateyard.core.db import after_commit_mark, forget_after_commit
from stateyard.core.errors import FieldError, conflict, invalid, not_found

if TYPE_CHECKING:
    from stateyard.auth.tokens import Claims
    from stateyard.entities.registry import Snapshot
    from stateyard.platform import Platform

#: Who may call a built-in action before any entity-level check: anyone, signed-in users, administrators.
Access = Literal["guest", "user", "admin"]
ANY_ENTITY = "*"
#: How deeply actions may call actions (an action calling itself stops here).
MAX_DEPTH = 5


class PerformerResult(msgspec.Struct):
    """A performer's answer: a value later outcomes can refer to, and directives for the client."""

    value: Any = None
    directives: list[Directive] = msgspec.field(default_factory=list)


class ActionCall:
    """Everything a performer receives besides its typed input.

    ``subject`` is who the outcome runs as (the caller, or the system for ``run_as: system``);
    ``caller`` is who called. The chain's transaction opens on first use of :meth:`connection`,
    so actions that never touch the database (or manage their own transactions, like sign-in)
    never hold SQLite's single writer.
    """

    def __init__(
        self,
        platform: Platform,
        subject: Subject,
        entity: str,
        action: str,
        *,
        caller: Subject | None = None,
        depth: int = 0,
        chain: Chain | None = None,
    ) -> None:
        self.platform = platform
        self.subject = subject
        self.caller = caller or subject
        self.entity = entity
        self.action = action
        self.depth = depth
        self.chain = chain or Chain(platform)
        #: The row a declared action runs on (``subject`` in its templates), if it has one.
        self.instance: dict[str, Any] | None = None
        #: The template context of a declared action's chain (``input``, ``user``, ``subject``, earlier
        #: references), for performers that render templates of their own (see ``Performer.raw_attributes``).
        self.context: dict[str, Any] = {}

    async def connection(self) -> AsyncConnection:
        return await self.chain.connection()

    @property
    def token(self) -> Claims | None:
        """The bearer token the action was called with (None for guests and scheduled runs)."""
        return self.chain.token

    @property
    def snapshot(self) -> Snapshot:
        return self.platform.registry.snapshot

    def require_own_transaction(self, performer: str) -> None:
        """Refuse (409 ``chain-open``) a performer that commits work of its own (schema changes,
        imports) once the chain's transaction is open: it could not be undone with the chain."""
        if self.chain.open:
            raise conflict(
                f"'{performer}' commits in transactions of its own and cannot join this action's transaction: "
                "put it before any step that reads or writes rows.",
                code="chain-open",
                performer=performer,
            )

    def nested(self, entity: str, action: str, subject: Subject) -> ActionCall:
        return ActionCall(
            self.platform, subject, entity, action, caller=self.caller, depth=self.depth + 1, chain=self.chain
        )


class Chain:
    """The one transaction of an action's outcomes, opened lazily, committed or rolled back at the end."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._stack = AsyncExitStack()
        self._conn: AsyncConnection | None = None
        self.token: Claims | None = None
        #: Savepoint blocks entered before the transaction opened: each gets its savepoint when it opens.
        self._waiting: list[_Savepoint] = []

    async def connection(self) -> AsyncConnection:
        if self._conn is None:
            self._conn = await self._stack.enter_async_context(self.platform.db.write())
            for block in self._waiting:  # outermost first, before anything is written
                block.transaction = await self._conn.begin_nested()
        return self._conn

    @property
    def open(self) -> bool:
        return self._conn is not None

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """Undo only this block's database changes if it fails (for ``continue_on_error`` steps).

        The block's after-commit work (mail, reloads) is dropped with its changes. A block entered
        before the chain's transaction opens gets its savepoint when a step inside opens it, so
        the transaction stays unopened (and SQLite's writer free) for steps that never write.
        """
        mark = after_commit_mark()
        block = _Savepoint()
        if self._conn is not None:
            block.transaction = await self._conn.begin_nested()
        else:
            self._waiting.append(block)
        try:
            yield
        except BaseException:
            if block.transaction is not None and block.transaction.is_active:
                await block.transaction.rollback()
            forget_after_commit(mark)
            raise
        else:
            if block.transaction is not None and block.transaction.is_active:
                await block.transaction.commit()
        finally:
            if block in self._waiting:
                self._waiting.remove(block)

    async def __aenter__(self) -> Chain:
        await self._stack.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> bool | None:
        return await self._stack.__aexit__(*exc)


class _Savepoint:
    """One ``Chain.savepoint`` block; its nested transaction once the chain's transaction is open."""

    transaction: AsyncTransaction | None = None


PerformerFn = Callable[[ActionCall, Any], Awaitable[PerformerResult | list[Directive]]]


class Performer(msgspec.Struct, frozen=True):
    name: str
    input: type[msgspec.Struct]
    run: PerformerFn
    description: str = ""
    #: Only administrators (or run_as: system actions, which only they declare) may use it.
    admin_only: bool = False
    #: Attributes the engine passes on verbatim instead of rendering: templates the performer renders
    #: itself over ``call.context`` (rendering them twice would run values from rows as templates).
    raw_attributes: frozenset[str] = frozenset()

    def schema(self) -> dict[str, Any]:
        (schema,), components = msgspec.json.schema_components([self.input], ref_template="#/$defs/{name}")
        return {**components.get(self.input.__name__, schema), **({"$defs": components} if components else {})}

    async def perform(self, call: ActionCall, data: Any) -> PerformerResult:
        result = await self.run(call, data)
        return result if isinstance(result, PerformerResult) else PerformerResult(directives=list(result))


class Action(msgspec.Struct, frozen=True):
    """A built-in action: a performer called directly at ``/action/<entity>/<name>``."""

    entity: str
    name: str
    performer: Performer
    access: Access = "user"
    label: str | None = None
    description: str | None = None

    def input_schema(self) -> dict[str, Any]:
        return self.performer.schema()


class ActionRegistry:
    def __init__(self) -> None:
        self.performers: dict[str, Performer] = {}
        self.actions: dict[tuple[str, str], Action] = {}

    def performer(self, performer: Performer) -> Performer:
        if performer.name in self.performers:
            raise ValueError(f"performer '{performer.name}' is registered twice")
        self.performers[performer.name] = performer
        return performer

    def expose(self, entity: str, name: str, performer: str, **options: Any) -> Action:
        action = Action(entity=entity, name=name, performer=self.performers[performer], **options)
        self.actions[(entity, name)] = action
        return action

    def find(self, entity: str, name: str) -> Action | None:
        return self.actions.get((entity, name)) or self.actions.get((ANY_ENTITY, name))

    def get(self, entity: str, name: str) -> Action:
        action = self.find(entity, name)
        if action is None:
            raise not_found(f"There is no action '{name}' on '{entity}'.", entity=entity, action=name)
        return action

    def all(self) -> list[Action]:
        return sorted(self.actions.values(), key=lambda a: (a.entity, a.name))


def decode_input(kind: type[msgspec.Struct], attributes: Any, prefix: str = "") -> Any:
    """Convert attributes to a performer's input Struct, naming every bad field at once."""
    if not isinstance(attributes, dict):
        raise invalid([FieldError(prefix.rstrip(".") or "attributes", "type", "expected an object of named inputs")])
    errors: list[FieldError] = []
    fields = {f.encode_name: f for f in msgspec.structs.fields(kind)}
    for key in attributes:
        if key not in fields:
            errors.append(FieldError(prefix + key, "unknown", f"this action takes no input '{key}'"))
    for name, field in fields.items():
        if name not in attributes:
            if field.required:
                errors.append(FieldError(prefix + name, "required", f"'{name}' is required"))
            continue
        try:
            msgspec.convert(attributes[name], field.type)
        except msgspec.ValidationError as exc:
            errors.append(FieldError(prefix + name, "invalid", str(exc).split(" - at ")[0]))
    if errors:
        raise invalid(errors)
    try:
        return msgspec.convert(attributes, kind)
    except msgspec.ValidationError as exc:  # a rule across fields (__post_init__)
        raise invalid([FieldError(prefix.rstrip(".") or "attributes", "invalid", str(exc))]) from None
