"""Run actions: built-in performers, and declared actions' outcome chains.

A declared action runs its outcomes in order, in one transaction, as the calling user
(or, declared ``run_as: system`` by an administrator, with every permission). Each outcome is
a client directive, a CRUD method on an entity, a performer, or another action; ``reference``
names its result for later templates, ``condition`` skips it, ``continue_on_error`` records a
failure and goes on (its database changes undone by a savepoint). Any other failure rolls
back the whole chain and answers a problem naming the step that failed.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy.exc import IntegrityError

from stateyard.actions import directives as client
from stateyard.actions.inputs import validate_inputs
from stateyard.actions.registry import MAX_DEPTH, Action, ActionCall, PerformerResult, decode_input
from stateyard.actions.schemas import ActionDef, OutcomeDef
from stateyard.actions.validation import ACTION_OUTCOME
from stateyard.auth.access import missing_row, require_row, require_table
from stateyard.auth.permissions import SYSTEM, Subject, Verb
from stateyard.core.db_errors import integrity_problem
from stateyard.core.errors import FieldError, ProblemError, bad_request, forbidden, invalid, not_found, unauthorized
from stateyard.crud.service import parse_row_id
from stateyard.expressions import conditions, templates
from stateyard.expressions.conditions import ANY_KIND, FieldSpec

if TYPE_CHECKING:
    from stateyard.auth.tokens import Claims
    from stateyard.platform import Platform

Directive = client.Directive
_CONTEXT_FIELDS = {f"{n}.*": FieldSpec(f"{n}.*", ANY_KIND) for n in ("subject", "input", "user")}


def may_call_builtin(subject: Subject, action: Action) -> bool:
    if action.access == "guest":
        return True
    if action.access == "user":
        return not subject.anonymous
    return subject.is_admin


class Outcome(msgspec.Struct):
    """What a chain produced: directives for the client and the value of its last step."""

    directives: list[Directive]
    value: Any = None


class ActionEngine:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    # -- entry point ------------------------------------------------------------------------

    async def call(
        self, subject: Subject, entity: str, name: str, attributes: Any, *, token: Claims | None = None
    ) -> list[Directive]:
        """Run ``/action/<entity>/<name>`` for ``subject`` (signed in with ``token``) and return its directives."""
        await self.platform.registry.model(entity)
        if not isinstance(attributes, dict):
            raise invalid([FieldError("attributes", "type", "expected an object of named inputs")])
        call = ActionCall(self.platform, subject, entity, name)
        call.chain.token = token
        async with call.chain:
            outcome = await self.run(call, entity, name, attributes)
        return outcome.directives

    async def run(self, call: ActionCall, entity: str, name: str, attributes: dict[str, Any]) -> Outcome:
        if call.depth > MAX_DEPTH:
            raise bad_request(
                f"Actions called each other more than {MAX_DEPTH} levels deep (does '{name}' call itself?).",
                code="recursion-limit",
                action=name,
            )
        declared = self.platform.action_catalog.get(entity, name)
        if declared is not None:
            return await self._run_declared(call, declared, attributes)
        builtin = self.platform.actions.get(entity, name)
        if not may_call_builtin(call.caller, builtin):
            what = f"the '{name}' action on '{entity}'"
            if call.caller.anonymous:
                raise unauthorized(f"Sign in to call {what}.")
            raise forbidden(f"Only administrators may call {what}.")
        data = decode_input(builtin.performer.input, attributes)
        result = await builtin.performer.perform(call, data)
        return Outcome(result.directives, result.value)

    # -- declared actions -------------------------------------------------------------------

    async def _run_declared(self, call: ActionCall, action: ActionDef, attributes: dict[str, Any]) -> Outcome:
        platform = self.platform
        snapshot = call.snapshot
        model = snapshot.model(action.entity)
        caller = call.caller
        require_table(caller, model, Verb.EXECUTE)
        if action.groups and not caller.is_admin:
            wanted = {snapshot.group_id(g) for g in action.groups} - {None}
            if not caller.group_ids & wanted:
                raise forbidden(
                    f"Only members of {', '.join(action.groups)} may call '{action.name}'.",
                    permission="group",
                    groups=action.groups,
                )
        instance_key = f"{action.entity}_id"
        raw = attributes.get(instance_key)
        instance_errors = []
        if action.instance_required and raw is None:
            instance_errors.append(FieldError(instance_key, "required", f"the id of the {action.entity} to act on"))
        elif action.instance_required and not isinstance(raw, str | uuid.UUID):
            instance_errors.append(FieldError(instance_key, "type", "expected the row's id (a UUID string)"))
        try:
            inputs = validate_inputs(
                action.in_fields,
                attributes,
                # An action that acts on no row takes no row id: passing one is a mistake, not a no-op.
                extra=(instance_key,) if action.instance_required else (),
                max_file_bytes=platform.settings.max_body_bytes,
            )
        except ProblemError as exc:
            if exc.status != 422 or not instance_errors:
                raise
            raise invalid([*(exc.errors or []), *instance_errors]) from None
        if instance_errors:
            raise invalid(instance_errors)
        subject_row: dict[str, Any] | None = None
        if action.instance_required:
            assert isinstance(raw, str | uuid.UUID)
            conn = await call.connection()
            # An outcome calling this action passes ``{{ subject.id }}``, which renders to a UUID.
            row_id = raw if isinstance(raw, uuid.UUID) else parse_row_id(model, raw)
            subject_row = await platform.store.load(conn, model, row_id, for_update=True)
            if subject_row is None:
                raise missing_row(model, row_id)
            await require_row(conn, snapshot, caller, model, subject_row, Verb.EXECUTE)
        context: dict[str, Any] = {
            "input": inputs,
            "user": {"id": caller.user_id, "email": caller.email, "is_admin": caller.is_admin},
        }
        if subject_row is not None:
            context["subject"] = platform.records.presenter.row(snapshot, model, subject_row, caller)
        if action.condition is not None:
            bound = conditions.bind(conditions.parse(action.condition, "condition"), _CONTEXT_FIELDS)
            if not conditions.evaluate(bound, context):
                failing = conditions.first_failing_rule(bound, context)
                rule = {"field": failing.field, "op": failing.op, "value": failing.value} if failing else None
                raise ProblemError(
                    409,
                    "action-condition",
                    "Condition not met",
                    f"'{action.name}' cannot run now: its condition does not hold.",
                    rule=rule,
                )
        runner = SYSTEM if action.run_as == "system" else caller
        step_call = ActionCall(
            platform, runner, action.entity, action.name, caller=caller, depth=call.depth, chain=call.chain
        )
        step_call.instance = subject_row
        directives: list[Directive] = []
        value: Any = None
        for index, outcome in enumerate(action.outcomes):
            if outcome.condition is not None:
                fields = {**_CONTEXT_FIELDS, **{f"{k}.*": FieldSpec(f"{k}.*", ANY_KIND) for k in context}}
                bound = conditions.bind(conditions.parse(outcome.condition, f"outcomes[{index}].condition"), fields)
                if not conditions.evaluate(bound, context):
                    continue
            try:
                if outcome.continue_on_error:
                    async with call.chain.savepoint():
                        result = await self._outcome(step_call, outcome, index, context)
                else:
                    result = await self._outcome(step_call, outcome, index, context)
            except ProblemError as exc:
                if not outcome.continue_on_error:
                    raise _at_step(exc, index, outcome) from None
                result = PerformerResult(value={"error": exc.to_dict()})
            directives += result.directives
            value = result.value
            if outcome.reference:
                context[outcome.reference] = result.value
        return Outcome(directives, value)

    async def _outcome(
        self, call: ActionCall, outcome: OutcomeDef, index: int, context: dict[str, Any]
    ) -> PerformerResult:
        where = f"outcomes[{index}].attributes"
        kind = outcome.type
        performer = self.platform.actions.performers.get(kind)
        raw = performer.raw_attributes if performer is not None else frozenset()
        attributes = templates.render({k: v for k, v in outcome.attributes.items() if k not in raw}, context, where)
        attributes.update({k: v for k, v in outcome.attributes.items() if k in raw})
        if kind in client.DIRECTIVE_TYPES:
            directive = client.build(kind, attributes, where)
            return PerformerResult(value=directive.attributes, directives=[directive])
        if kind == ACTION_OUTCOME:
            target_entity, target, inputs = _nested_action(attributes, call.entity, where)
            nested = call.nested(target_entity, target, call.caller)
            result = await self.run(nested, target_entity, target, inputs)
            return PerformerResult(value=result.value, directives=result.directives)
        if performer is not None:
            if performer.admin_only and not call.subject.is_admin:
                raise forbidden(f"Only administrators may run '{kind}'.", performer=kind)
            data = decode_input(performer.input, attributes, prefix=f"{where}.")
            call.context = context
            return await performer.perform(call, data)
        try:
            return await self._crud(call, kind, outcome.method or "", attributes)
        except IntegrityError as exc:  # a unique value taken, a row still referenced: 409, never a 500
            raise integrity_problem(exc, kind, deleting=outcome.method == "delete") from None

    async def _crud(self, call: ActionCall, entity: str, method: str, attributes: dict[str, Any]) -> PerformerResult:
        records = self.platform.records
        snapshot = call.snapshot
        model = snapshot.model(entity)
        if entity in self.platform.hooks.handlers:
            raise bad_request(
                f"'{entity}' rows change tables: use the system performers, not a CRUD outcome.", entity=entity
            )
        conn = await call.connection()
        subject = call.subject
        if method == "list":
            params = {k: v if isinstance(v, str) else msgspec.json.encode(v).decode() for k, v in attributes.items()}
            require_table(subject, model, Verb.READ)
            page = await records.list_in(conn, snapshot, subject, model, records.parse_query(model, params))
            value = {"data": page.data, "meta": {"total": page.total, "page": page.page, "per_page": page.per_page}}
            return PerformerResult(value=value)
        body = dict(attributes)
        if method == "create":
            row = await records.create_in(conn, snapshot, subject, model, body)
        else:
            row_id = _row_id(model, body.pop("id", None))
            if method == "get":
                require_table(subject, model, Verb.READ)
                row = await records.load_visible(conn, snapshot, subject, model, row_id)
            elif method == "update":
                row = await records.update_in(conn, snapshot, subject, model, row_id, body)
            else:
                await records.delete_in(conn, snapshot, subject, model, row_id)
                return PerformerResult(value={"id": str(row_id), "deleted": True})
        shown = records.presenter.row(snapshot, model, row, call.caller)
        return PerformerResult(value=shown, directives=[client.record(entity, shown)])


def _nested_action(attributes: dict[str, Any], entity: str, where: str) -> tuple[str, str, dict[str, Any]]:
    """(entity, name, inputs) of an ``action`` outcome, as rendered; 422 naming what is not usable."""
    target_entity = attributes.get("entity") or entity
    name = attributes.get("name")
    inputs = attributes.get("attributes")
    errors = []
    if not isinstance(target_entity, str):
        errors.append(FieldError(f"{where}.entity", "type", "expected the name of an entity"))
    if not isinstance(name, str) or not name:
        errors.append(FieldError(f"{where}.name", "type", "expected the name of an action"))
    if inputs is not None and not isinstance(inputs, dict):
        errors.append(FieldError(f"{where}.attributes", "type", "expected an object of named inputs"))
    if errors:
        raise invalid(errors)
    return str(target_entity), str(name), dict(inputs or {})


def _row_id(model: Any, raw: Any) -> uuid.UUID:
    if isinstance(raw, uuid.UUID):
        return raw
    if not isinstance(raw, str):
        raise invalid([FieldError("id", "required", f"the id of the {model.name} (a UUID string)")])
    return parse_row_id(model, raw)


_STEP_PREFIX = re.compile(r"^Step (\d+) \(([^)]*)\) failed, nothing was changed: ")


def _at_step(exc: ProblemError, index: int, outcome: OutcomeDef) -> ProblemError:
    """The same problem, saying which step of the chain failed (the chain was rolled back).

    A failure inside an action that this step called names both: ``step`` is this chain's,
    ``steps`` the path through the called actions (``[0, 1]``: the second step of the first's).
    """
    label = outcome.type + (f".{outcome.method}" if outcome.method else "")
    prefix = f"Step {index + 1} ({label}) failed, nothing was changed: "
    if "step" in exc.extensions:
        exc.extensions["steps"] = [index, *exc.extensions.get("steps", [exc.extensions["step"]])]
        exc.detail = _STEP_PREFIX.sub(lambda m: f"{prefix}its step {m[1]} ({m[2]}): ", exc.detail, count=1)
    else:
        exc.detail = prefix + exc.detail
    exc.extensions["step"] = index
    exc.extensions["outcome"] = label
    return exc


__all__ = ["ActionEngine", "Outcome", "may_call_builtin", "not_found"]
