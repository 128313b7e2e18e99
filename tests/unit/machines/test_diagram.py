"""Mermaid and DOT diagrams drawn from a definition, with and without counts."""

from __future__ import annotations

from stateyard.machines import diagram
from tests.unit.machines.conftest import definition


def test_mermaid_lists_start_transitions_and_ends() -> None:
    assert diagram.mermaid("order_flow", definition()) == (
        "stateDiagram-v2\n"
        "    %% order_flow\n"
        "    [*] --> pending\n"
        "    confirmed : Confirmed  ready\n"
        "    pending --> confirmed : confirm\n"
        "    confirmed --> shipped : ship\n"
        "    pending --> cancelled : cancel\n"
        "    confirmed --> cancelled : cancel\n"
        "    shipped --> [*]\n"
        "    cancelled --> [*]\n"
    )


def test_mermaid_counts_label_every_state() -> None:
    text = diagram.mermaid("order_flow", definition(), {"pending": 3, "cancelled": 1})
    assert "    pending : pending (3)\n" in text
    assert "    confirmed : Confirmed  ready (0)\n" in text
    assert "    shipped : shipped (0)\n" in text and "    cancelled : cancelled (1)\n" in text


def test_dot_marks_final_states_and_labels_edges() -> None:
    text = diagram.dot("order_flow", definition())
    lines = text.splitlines()
    assert lines[0] == 'digraph "order_flow" {' and lines[-1] == "}"
    assert '    "__start__" -> "pending";' in lines
    assert '    "confirmed" [label="Confirmed: ready"];' in lines
    assert '    "shipped" [label="shipped", peripheries=2];' in lines
    assert '    "pending" -> "cancelled" [label="cancel"];' in lines
    assert '    "confirmed" -> "cancelled" [label="cancel"];' in lines
    assert text.endswith("}\n")


def test_dot_counts_and_quoting() -> None:
    states = [{"name": "pending", "label": 'Say "hi" \\ wave'}, {"name": "done", "final": True}]
    events = [{"name": "finish", "src": ["pending"], "dst": "done"}]
    text = diagram.dot('we"ird', definition(states=states, events=events), {"done": 2})
    assert text.startswith('digraph "we\\"ird" {')
    assert '    "pending" [label="Say \\"hi\\" \\\\ wave (0)"];' in text
    assert '    "done" [label="done (2)", peripheries=2];' in text


def test_a_machine_without_events_is_drawn() -> None:
    single = definition(states=[{"name": "only", "final": True}], initial_state="only", events=[])
    assert diagram.mermaid("one", single).splitlines()[-2:] == ["    [*] --> only", "    only --> [*]"]
    assert '"only" [label="only", peripheries=2];' in diagram.dot("one", single)
