"""State diagrams in Mermaid and Graphviz DOT, drawn from a machine definition."""

from __future__ import annotations

from stateyard.machines.schemas import MachineDef

FORMATS = {"mermaid": "text/vnd.mermaid; charset=utf-8", "dot": "text/vnd.graphviz; charset=utf-8"}


def _label(name: str, counts: dict[str, int] | None) -> str:
    return f"{name} ({counts.get(name, 0)})" if counts is not None else name


def mermaid(name: str, definition: MachineDef, counts: dict[str, int] | None = None) -> str:
    lines = ["stateDiagram-v2", f"    %% {name}", f"    [*] --> {definition.initial_state}"]
    for state in definition.states:
        shown = _label(state.label or state.name, counts) if (counts is not None or state.label) else None
        if shown:
            lines.append(f"    {state.name} : {shown.replace(':', ' ')}")
    for event in definition.events:
        for src in event.src:
            lines.append(f"    {src} --> {event.dst} : {event.name}")
    lines += [f"    {state.name} --> [*]" for state in definition.states if state.final]
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot(name: str, definition: MachineDef, counts: dict[str, int] | None = None) -> str:
    lines = [
        f"digraph {_quote(name)} {{",
        "    rankdir=LR;",
        '    node [shape=box, style="rounded"];',
        '    "__start__" [shape=point, label=""];',
        f'    "__start__" -> {_quote(definition.initial_state)};',
    ]
    for state in definition.states:
        label = _label(state.label or state.name, counts)
        shape = ", peripheries=2" if state.final else ""
        lines.append(f"    {_quote(state.name)} [label={_quote(label)}{shape}];")
    for event in definition.events:
        for src in event.src:
            lines.append(f"    {_quote(src)} -> {_quote(event.dst)} [label={_quote(event.name)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
