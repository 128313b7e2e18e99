"""The baseline of the benchmarks: the same SQL as Stateyard, with no platform around it.

A hand-written Litestar app on the same stack (uvicorn, SQLAlchemy Core, aiosqlite/asyncpg,
msgspec) and the same engine set-up (SQLite: WAL, one ``BEGIN IMMEDIATE`` writer, a read
pool; PostgreSQL: one pool, ``search_path``). It serves one fixed caller (no token check),
hard-codes the benchmarks' entities, machine and action (``bench/definitions.py``) and does
per request what Stateyard does in the database:

* GET one row: select by id in a read transaction, owner/permission check in Python;
* list: the same permission predicate, filter, ``ORDER BY id LIMIT 25`` and count;
* create: insert the row and its audit row in one write transaction;
* patch: select (``FOR UPDATE`` on PostgreSQL), versioned update, audit row, one transaction;
* fire an event (``bench/transitions.py``): select the object state (``FOR UPDATE`` on
  PostgreSQL) and its row, check permission, state and guard, versioned update of the object
  state, insert its history row and its three outbox rows (exited, entered, fired), one transaction;
* the declared action (``bench/actions.py``): select the row (``FOR UPDATE`` on PostgreSQL),
  check permission, versioned update, audit row, one transaction; answer the row and a notice.

Run by the benchmarks: ``python -m bench.bare_app --database URL --port N --owner UUID --groups ...``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, get, patch, post
from litestar.params import FromPath
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Uuid,
    and_,
    asc,
    bindparam,
    event,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.definitions import ACTION_NAME, ITEM, MACHINE, MACHINE_NAME, STATUSES, TICKET

GUEST_SHIFT, OWNER_SHIFT, GROUP_SHIFT = 0, 7, 14
PEEK, READ, UPDATE, EXECUTE = 1, 2, 8, 32
#: Rows the platform writes for itself (audit, history, outbox): the owner may peek and read.
LOG_PERMISSION = (PEEK | READ) << OWNER_SHIFT
PAGE = 25

encoder = msgspec.json.Encoder()
metadata = MetaData()


def row_columns() -> list[Column[Any]]:
    return [
        Column("id", Uuid(), primary_key=True),
        Column("version", Integer(), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
        Column("owner_id", Uuid()),
        Column("permission", Integer(), nullable=False),
    ]


items = Table(
    "bench_item",
    metadata,
    *row_columns(),
    Column("name", String(100)),
    Column("quantity", BigInteger().with_variant(Integer(), "sqlite")),
    Column("weight", Float(precision=53)),
    Column("price", Numeric(12, 2)),
    Column("active", Boolean()),
    Column("due_on", Date()),
    Column("seen_at", DateTime(timezone=True)),
    Column("status", String(32)),
)
json_type = JSON().with_variant(JSONB(), "postgresql")
audit = Table(
    "audit_log",
    metadata,
    *row_columns(),
    Column("entity", String(63)),
    Column("row_id", Uuid()),
    Column("operation", String(32)),
    Column("before", json_type),
    Column("after", json_type),
    Column("actor_id", Uuid()),
)
shares = Table(
    "row_share",
    metadata,
    *row_columns(),
    Column("entity", String(63)),
    Column("row_id", Uuid()),
    Column("usergroup_id", Uuid()),
)
DECLARED = ("name", "quantity", "weight", "price", "active", "due_on", "seen_at", "status")
# Statements built once and run with parameters, as an app tuned by hand would.
BY_ID = select(items).where(items.c.id == bindparam("_id"))
BY_ID_FOR_UPDATE = BY_ID.with_for_update()
VERSIONED_UPDATE = update(items).where(items.c.id == bindparam("_id"), items.c.version == bindparam("_version"))
INSERT_ITEM, INSERT_AUDIT = insert(items), insert(audit)

tickets = Table(
    "bench_ticket",
    metadata,
    *row_columns(),
    Column("title", String(200)),
    Column("priority", BigInteger().with_variant(Integer(), "sqlite")),
)
object_states = Table(
    "object_state",
    metadata,
    *row_columns(),
    Column("entity", String(63)),
    Column("row_id", Uuid()),
    Column("machine_version", BigInteger().with_variant(Integer(), "sqlite")),
    Column("state", String(63)),
    Column("machine_id", Uuid()),
)
transitions = Table(
    "state_transition",
    metadata,
    *row_columns(),
    Column("object_state_id", Uuid()),
    Column("entity", String(63)),
    Column("row_id", Uuid()),
    Column("machine", String(63)),
    Column("machine_version", BigInteger().with_variant(Integer(), "sqlite")),
    Column("event", String(63)),
    Column("from_state", String(63)),
    Column("to_state", String(63)),
    Column("actor_id", Uuid()),
    Column("payload", json_type),
)
outbox = Table(
    "outbox",
    metadata,
    *row_columns(),
    Column("topic", String(63)),
    Column("entity", String(63)),
    Column("row_id", Uuid()),
    Column("payload", json_type),
    Column("dispatched_at", DateTime(timezone=True)),
)
TICKET_BY_ID = select(tickets).where(tickets.c.id == bindparam("_id"))
STATE_BY_ID = select(object_states).where(object_states.c.id == bindparam("_id"))
STATE_BY_ID_FOR_UPDATE = STATE_BY_ID.with_for_update()
VERSIONED_STATE_UPDATE = update(object_states).where(
    object_states.c.id == bindparam("_id"), object_states.c.version == bindparam("_version")
)
INSERT_TRANSITION, INSERT_OUTBOX = insert(transitions), insert(outbox)
#: The machine, hard-coded as a hand-written app would: (state, event) -> next state.
NEXT_STATE = {(source, e["name"]): e["dst"] for e in MACHINE["events"] for source in e["src"]}
EVENTS_FROM = {s["name"]: [e["name"] for e in MACHINE["events"] if s["name"] in e["src"]] for s in MACHINE["states"]}
ACTION_STATUSES = frozenset(STATUSES)


class Bare:
    def __init__(self, url: str, schema: str | None, owner: uuid.UUID, groups: list[uuid.UUID], row_perm: int) -> None:
        parsed = make_url(url)
        self.sqlite = parsed.get_backend_name() == "sqlite"
        self.owner = owner
        self.groups = groups
        self.row_permission = row_perm
        where = and_(self.visible(READ), items.c.quantity == bindparam("_quantity"))
        self.page = select(items).where(where).order_by(asc(items.c.id)).limit(PAGE).offset(0)
        self.count = select(func.count()).select_from(items).where(where)
        if self.sqlite:
            url = parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
            self.writer = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=60)
            self.reader = create_async_engine(url, pool_size=4, max_overflow=4)
            sqlite_setup(self.writer, "BEGIN IMMEDIATE")
            sqlite_setup(self.reader, "BEGIN")
        else:
            url = parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
            args = {"server_settings": {"search_path": schema}} if schema else {}
            self.writer = create_async_engine(url, pool_size=10, max_overflow=20, connect_args=args)
            self.reader = self.writer

    def visible(self, verb: int) -> Any:
        """The permission predicate Stateyard's ``row_filter`` builds for a signed-in non-admin."""
        perm = items.c.permission
        shared = exists(
            select(shares.c.id).where(
                shares.c.entity == "bench_item", shares.c.row_id == items.c.id, shares.c.usergroup_id.in_(self.groups)
            )
        )
        return or_(
            perm.op("&")(verb << GUEST_SHIFT) != 0,
            and_(items.c.owner_id == self.owner, perm.op("&")(verb << OWNER_SHIFT) != 0),
            and_(perm.op("&")(verb << GROUP_SHIFT) != 0, shared),
        )

    def may(self, row: Any, verb: int) -> bool:
        perm = row["permission"]
        return bool(perm & (verb << GUEST_SHIFT) or (row["owner_id"] == self.owner and perm & (verb << OWNER_SHIFT)))

    async def audit(self, conn: Any, row_id: uuid.UUID, operation: str, before: Any, after: Any, at: Any) -> None:
        await conn.execute(
            INSERT_AUDIT,
            {
                "id": time_ordered_id(),
                "version": 1,
                "created_at": at,
                "updated_at": at,
                "owner_id": self.owner,
                "permission": LOG_PERMISSION,
                "entity": "bench_item",
                "row_id": row_id,
                "operation": operation,
                "before": before,
                "after": after,
                "actor_id": self.owner,
            },
        )


def time_ordered_id() -> uuid.UUID:
    """A UUIDv7-style id, as Stateyard uses, so that both apps insert into the primary key alike."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    value = value & ~(0xF << 76) | 0x7 << 76
    value = value & ~(0x3 << 62) | 0x2 << 62
    return uuid.UUID(int=value)


def sqlite_setup(engine: AsyncEngine, begin: str) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=10000"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)


def json_response(data: Any, status: int = 200) -> Response[bytes]:
    return Response(encoder.encode(data), status_code=status, media_type="application/json")


def not_found() -> Response[bytes]:
    return Response(b'{"status":404}', status_code=404, media_type="application/problem+json")


def bare(request: Request[Any, Any, Any]) -> Bare:
    return request.app.state.bare  # type: ignore[no-any-return]


def converted(body: dict[str, Any]) -> dict[str, Any]:
    """The least an app must do to hand JSON values to the driver."""
    values = {k: body[k] for k in DECLARED if k in body}
    if "price" in values:
        values["price"] = Decimal(values["price"])
    if "due_on" in values:
        values["due_on"] = dt.date.fromisoformat(values["due_on"])
    if "seen_at" in values:
        values["seen_at"] = dt.datetime.fromisoformat(values["seen_at"])
    return values


@get("/ping")
async def ping() -> Response[bytes]:
    return Response(b"ok", media_type="text/plain")


@get("/health")
async def health() -> Response[bytes]:
    return json_response({"status": "ok"})


@get("/api/bench_item/{row_id:str}")
async def get_row(request: Request[Any, Any, Any], row_id: FromPath[str]) -> Response[bytes]:
    app = bare(request)
    async with app.reader.begin() as conn:
        row = (await conn.execute(BY_ID, {"_id": uuid.UUID(row_id)})).mappings().first()
    if row is None or not app.may(row, READ):
        return not_found()
    return json_response(dict(row))


@get("/api/bench_item")
async def list_rows(request: Request[Any, Any, Any]) -> Response[bytes]:
    app = bare(request)
    condition = msgspec.json.decode(request.query_params["filter"])
    params = {"_quantity": int(condition["value"])}
    async with app.reader.begin() as conn:
        rows = [dict(r) for r in (await conn.execute(app.page, params)).mappings()]
        total = len(rows)
        if total == PAGE:
            total = int(await conn.scalar(app.count, params) or 0)
    return json_response({"data": rows, "meta": {"total": total, "page": 1, "per_page": PAGE}})


@post("/api/bench_item")
async def create_row(request: Request[Any, Any, Any]) -> Response[bytes]:
    app = bare(request)
    values = converted(msgspec.json.decode(await request.body()))
    now = dt.datetime.now(dt.UTC)
    row = {
        "id": time_ordered_id(),
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "owner_id": app.owner,
        "permission": app.row_permission,
        **values,
    }
    async with app.writer.begin() as conn:
        await conn.execute(INSERT_ITEM, row)
        after = msgspec.to_builtins({k: v for k, v in row.items() if k not in ("created_at", "updated_at", "version")})
        await app.audit(conn, row["id"], "create", None, after, now)
    return json_response(row, 201)


@patch("/api/bench_item/{row_id:str}")
async def update_row(request: Request[Any, Any, Any], row_id: FromPath[str]) -> Response[bytes]:
    app = bare(request)
    changes = converted(msgspec.json.decode(await request.body()))
    key = uuid.UUID(row_id)
    now = dt.datetime.now(dt.UTC)
    async with app.writer.begin() as conn:
        stmt = BY_ID if app.sqlite else BY_ID_FOR_UPDATE
        before = (await conn.execute(stmt, {"_id": key})).mappings().first()
        if before is None or not app.may(before, UPDATE):
            return not_found()
        values = {**changes, "version": before["version"] + 1, "updated_at": now}
        result = await conn.execute(VERSIONED_UPDATE, {**values, "_id": key, "_version": before["version"]})
        if result.rowcount != 1:
            return Response(b'{"status":409}', status_code=409, media_type="application/problem+json")
        changed = [k for k in changes if before[k] != changes[k]]
        await app.audit(
            conn,
            key,
            "update",
            msgspec.to_builtins({k: before[k] for k in changed}),
            msgspec.to_builtins({k: changes[k] for k in changed}),
            now,
        )
    return json_response({**before, **values})


def conflict(detail: dict[str, Any]) -> Response[bytes]:
    return Response(encoder.encode({"status": 409, **detail}), status_code=409, media_type="application/problem+json")


@post(f"/api/event/{TICKET}/{{object_state_id:str}}/{{event:str}}", status_code=200)
async def fire_event(
    request: Request[Any, Any, Any], object_state_id: FromPath[str], event: FromPath[str]
) -> Response[bytes]:
    app = bare(request)
    await request.body()  # an optional {"version", "payload"}: the load generator sends none
    key = uuid.UUID(object_state_id)
    now = dt.datetime.now(dt.UTC)
    async with app.writer.begin() as conn:
        stmt = STATE_BY_ID if app.sqlite else STATE_BY_ID_FOR_UPDATE
        state = (await conn.execute(stmt, {"_id": key})).mappings().first()
        if state is None or state["entity"] != TICKET:
            return not_found()
        row = (await conn.execute(TICKET_BY_ID, {"_id": state["row_id"]})).mappings().first()
        if row is None or not app.may(row, EXECUTE):
            return not_found()
        current = state["state"]
        target = NEXT_STATE.get((current, event))
        if target is None:
            return conflict({"current_state": current, "allowed_events": EVENTS_FROM[current], "event": event})
        if event == "submit" and not row["title"]:  # the guard: title is_not_empty
            return conflict({"current_state": current, "event": event})
        version = state["version"] + 1
        result = await conn.execute(
            VERSIONED_STATE_UPDATE,
            {"state": target, "version": version, "updated_at": now, "_id": key, "_version": state["version"]},
        )
        if result.rowcount != 1:
            return conflict({"current_state": current})
        logged = {"version": 1, "created_at": now, "updated_at": now, "permission": LOG_PERMISSION}
        await conn.execute(
            INSERT_TRANSITION,
            {
                **logged,
                "id": time_ordered_id(),
                "owner_id": row["owner_id"],
                "object_state_id": key,
                "entity": TICKET,
                "row_id": row["id"],
                "machine": MACHINE_NAME,
                "machine_version": state["machine_version"],
                "event": event,
                "from_state": current,
                "to_state": target,
                "actor_id": app.owner,
                "payload": None,
            },
        )
        common = {
            "machine": MACHINE_NAME,
            "machine_version": state["machine_version"],
            "object_state_id": object_state_id,
            "event": event,
            "actor_id": str(app.owner),
        }
        topics = [
            ("state.exited", {**common, "state": current, "to_state": target}),
            ("state.entered", {**common, "state": target, "from_state": current}),
            ("event.fired", {**common, "from_state": current, "to_state": target, "payload": {}}),
        ]
        # One multi-row insert, as a hand-tuned app would write it (Stateyard inserts them one by one).
        about = {**logged, "owner_id": None, "entity": TICKET, "row_id": row["id"], "dispatched_at": None}
        outbox_rows = [{**about, "id": time_ordered_id(), "topic": t, "payload": data} for t, data in topics]
        await conn.execute(INSERT_OUTBOX, outbox_rows)
    return json_response(
        {
            "object_state_id": key,
            "previous_state": current,
            "state": target,
            "event": event,
            "version": version,
            "available_events": EVENTS_FROM[target],
        }
    )


@post(f"/action/{ITEM}/{ACTION_NAME}", status_code=200)
async def touch(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The declared action by hand: update the row (weight, status), then a notice."""
    app = bare(request)
    attributes = msgspec.json.decode(await request.body())["attributes"]
    key = uuid.UUID(attributes[f"{ITEM}_id"])
    weight, status = attributes["weight"], attributes["status"]
    if not isinstance(weight, int | float) or weight < 0 or status not in ACTION_STATUSES:
        return Response(b'{"status":422}', status_code=422, media_type="application/problem+json")
    changes = {"weight": float(weight), "status": status}
    now = dt.datetime.now(dt.UTC)
    async with app.writer.begin() as conn:
        stmt = BY_ID if app.sqlite else BY_ID_FOR_UPDATE
        before = (await conn.execute(stmt, {"_id": key})).mappings().first()
        if before is None or not app.may(before, EXECUTE) or not app.may(before, UPDATE):
            return not_found()
        values = {**changes, "version": before["version"] + 1, "updated_at": now}
        result = await conn.execute(VERSIONED_UPDATE, {**values, "_id": key, "_version": before["version"]})
        if result.rowcount != 1:
            return conflict({})
        changed = [k for k in changes if before[k] != changes[k]]
        await app.audit(
            conn,
            key,
            "update",
            msgspec.to_builtins({k: before[k] for k in changed}),
            msgspec.to_builtins({k: changes[k] for k in changed}),
            now,
        )
    row = {**before, **values}
    notice = {"type": "success", "message": f"Saved {row['name']}"}
    return json_response([{"type": ITEM, "attributes": row}, {"type": "client.notify", "attributes": notice}])


def create_app(state: Bare) -> Litestar:
    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await state.writer.dispose()
            if state.reader is not state.writer:
                await state.reader.dispose()

    app = Litestar(
        route_handlers=[ping, health, get_row, list_rows, create_row, update_row, fire_event, touch],
        lifespan=[lifespan],
    )
    app.state.bare = state
    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="Bare baseline app for bench/crud.py")
    parser.add_argument("--database", required=True)
    parser.add_argument("--schema", default=None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--owner", type=uuid.UUID, required=True, help="the benchmark user's id")
    parser.add_argument("--groups", default="", help="comma-separated group ids of the benchmark user")
    parser.add_argument("--row-permission", type=int, required=True)
    args = parser.parse_args()
    groups = sorted(uuid.UUID(g) for g in args.groups.split(",") if g)
    state = Bare(args.database, args.schema, args.owner, groups, args.row_permission)
    uvicorn.run(create_app(state), host="127.0.0.1", port=args.port, log_level="warning", proxy_headers=True)


if __name__ == "__main__":
    main()
