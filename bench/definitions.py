"""What the benchmarks declare: their entities, the state machine and the action, in one place.

The benchmark scripts declare these to Stateyard (as a builder would, through the platform);
``bench/bare_app.py`` hard-codes the same behaviour by hand, and ``bench/loadgen.py`` reads the
machine to know which event is valid in which state.
"""

from __future__ import annotations

from typing import Any

STATUSES = ("new", "open", "closed", "archived")

#: The entity of the records benchmark (and of the action benchmark's rows).
ITEM = "bench_item"
ITEM_DEFINITION: dict[str, Any] = {
    "name": ITEM,
    "label": "Benchmark item",
    "columns": [
        {"name": "name", "type": "string", "required": True, "max_length": 100},
        {"name": "quantity", "type": "integer", "indexed": True},
        {"name": "weight", "type": "float"},
        {"name": "price", "type": "decimal", "precision": 12, "scale": 2},
        {"name": "active", "type": "boolean"},
        {"name": "due_on", "type": "date"},
        {"name": "seen_at", "type": "datetime"},
        {"name": "status", "type": "enum", "options": list(STATUSES)},
    ],
}

#: The entity the state machine runs on.
TICKET = "bench_ticket"
TICKET_DEFINITION: dict[str, Any] = {
    "name": TICKET,
    "label": "Benchmark ticket",
    "columns": [
        {"name": "title", "type": "string", "required": True, "max_length": 200},
        {"name": "priority", "type": "integer"},
    ],
}

#: A cycle, so that every row always has one valid event: open -> working -> review -> open.
#: ``submit`` has a guard, so that a transition evaluates one condition as real machines do.
MACHINE_NAME = "ticket_flow"
MACHINE: dict[str, Any] = {
    "name": MACHINE_NAME,
    "entity": TICKET,
    "initial_state": "open",
    "states": [{"name": "open"}, {"name": "working"}, {"name": "review"}],
    "events": [
        {"name": "take", "src": ["open"], "dst": "working"},
        {
            "name": "submit",
            "src": ["working"],
            "dst": "review",
            "guard": {"field": "title", "op": "is_not_empty"},
        },
        {"name": "reopen", "src": ["review"], "dst": "open"},
    ],
    "auto_start": True,
}
#: state -> the one event valid in it, and event -> the state it leads to.
NEXT_EVENT = {source: e["name"] for e in MACHINE["events"] for source in e["src"]}
DESTINATION = {e["name"]: e["dst"] for e in MACHINE["events"]}

#: The declared action: update the row, then tell the client (two outcomes).
ACTION_NAME = "touch"
ACTION: dict[str, Any] = {
    "name": ACTION_NAME,
    "entity": ITEM,
    "label": "Touch an item",
    "instance_required": True,
    "in_fields": [
        {"name": "weight", "type": "float", "required": True, "min": 0},
        {"name": "status", "type": "enum", "options": list(STATUSES), "required": True},
    ],
    "outcomes": [
        {
            "type": ITEM,
            "method": "update",
            "reference": "updated",
            "attributes": {"id": "{{ subject.id }}", "weight": "{{ input.weight }}", "status": "{{ input.status }}"},
        },
        {"type": "client.notify", "attributes": {"type": "success", "message": "Saved {{ updated.name }}"}},
    ],
}
