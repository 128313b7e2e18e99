"""The one template renderer: sandboxed Jinja2 with strict undefined values.

Outcome attributes, notifications and mail bodies are templates over a context such as
``subject`` (the row), ``input`` (the action's inputs), ``user`` and earlier outcomes'
``reference`` names. A value that is exactly one ``{{ expr }}`` keeps its native type (a
number stays a number, a row stays a row); anything else renders to text. Templates are
checked when they are saved: a name or a field that cannot exist is refused then, not when
the action first runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, Undefined, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from stateyard.core.errors import ProblemError

_SINGLE = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\}\}|\{\{|\{%).)+)\}\}\s*$", re.DOTALL)
MAX_TEMPLATE_LENGTH = 20_000
MAX_OUTPUT_LENGTH = 1_000_000

_env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


class TemplateProblem(ValueError):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


@lru_cache(maxsize=2048)
def _compiled(source: str) -> Any:
    match = _SINGLE.match(source)
    if match:
        return ("expression", _env.compile_expression(match.group("expr"), undefined_to_none=False))
    return ("template", _env.from_string(source))


def render(value: Any, context: Mapping[str, Any], path: str = "attributes") -> Any:
    """Render every template inside ``value`` (strings, and lists/dicts of them) against ``context``."""
    if isinstance(value, dict):
        return {k: render(v, context, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context, f"{path}[{i}]") for i, v in enumerate(value)]
    if not is_template(value):
        return value
    try:
        kind, compiled = _compiled(value)
        if kind == "expression":
            result = compiled(**context)
            if isinstance(result, Undefined):
                str(result)  # raises the undefined (or sandbox) error it stands for
            return result
        output = compiled.render(**context)
    except (TemplateError, SecurityError, TypeError, ValueError, ArithmeticError) as exc:
        raise ProblemError(
            422,
            "template",
            "Template failed",
            f"The template at {path} could not be rendered: {exc}",
            path=path,
        ) from None
    if len(output) > MAX_OUTPUT_LENGTH:
        raise ProblemError(422, "template", "Template failed", f"The template at {path} renders too much text.")
    return output


#: What a template may name: top-level names, each with the set of fields it has (None: any).
Known = Mapping[str, frozenset[str] | None]


def check(value: Any, known: Known, path: str) -> list[TemplateProblem]:
    """Problems with the templates inside ``value``: syntax, and names or fields that cannot exist."""
    problems: list[TemplateProblem] = []
    if isinstance(value, dict):
        for k, v in value.items():
            problems += check(v, known, f"{path}.{k}")
        return problems
    if isinstance(value, list):
        for i, v in enumerate(value):
            problems += check(v, known, f"{path}[{i}]")
        return problems
    if not is_template(value):
        return problems
    if len(value) > MAX_TEMPLATE_LENGTH:
        return [TemplateProblem(path, f"a template is at most {MAX_TEMPLATE_LENGTH} characters")]
    try:
        tree = _env.parse(value)
        _compiled(value)
    except TemplateError as exc:
        return [TemplateProblem(path, f"invalid template: {exc}")]
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    for name_node in tree.find_all(nodes.Name):
        if name_node.ctx != "load" or name_node.name in assigned:
            continue
        if name_node.name not in known:
            names = ", ".join(sorted(known))
            problems.append(TemplateProblem(path, f"unknown name '{name_node.name}' (known: {names})"))
    for attr_node in tree.find_all(nodes.Getattr):
        base = attr_node.node
        if isinstance(base, nodes.Name) and base.ctx == "load" and base.name in known:
            fields = known[base.name]
            if fields is not None and attr_node.attr not in fields:
                shown = ", ".join(sorted(fields)) or "none"
                problems.append(
                    TemplateProblem(path, f"'{base.name}' has no field '{attr_node.attr}' (fields: {shown})")
                )
    return problems


#: The same sandbox, escaping every inserted value for HTML documents.
_html_env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=True, keep_trailing_newline=True)


@lru_cache(maxsize=256)
def _document(source: str, html: bool) -> Template:
    return (_html_env if html else _env).from_string(source)


def render_document(source: str, context: Mapping[str, Any], path: str = "template", *, html: bool = False) -> str:
    """Render a whole template to text (never a native value); ``html`` escapes the values it inserts."""
    if len(source) > MAX_TEMPLATE_LENGTH:
        raise ProblemError(
            422, "template", "Template failed", f"The template at {path} is over {MAX_TEMPLATE_LENGTH} characters."
        )
    try:
        output = _document(source, html).render(**context)
    except (TemplateError, SecurityError, TypeError, ValueError, ArithmeticError) as exc:
        raise ProblemError(
            422, "template", "Template failed", f"The template at {path} could not be rendered: {exc}", path=path
        ) from None
    if len(output) > MAX_OUTPUT_LENGTH:
        raise ProblemError(422, "template", "Template failed", f"The template at {path} renders too much text.")
    return output
