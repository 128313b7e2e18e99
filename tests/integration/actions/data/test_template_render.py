from __future__ import annotations

import base64
from typing import Any

from tests.conftest import Api, assert_problem
from tests.integration.actions.data.conftest import call, declare, define, result_of
from tests.integration.crud.conftest import Probe

LETTER = {"name": "letter", "columns": [{"name": "title", "type": "string", "required": True}]}


def render_action(name: str, attributes: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "entity": "letter",
        "instance_required": True,
        "in_fields": [{"name": "amount", "type": "integer"}],
        "outcomes": [{"type": "template.render", "reference": "rendered", "attributes": attributes}],
        **extra,
    }


async def _letter(admin: Api, title: str) -> str:
    await define(admin, LETTER)
    response = await admin.post("/api/letter", {"title": title})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_text_sees_the_row_the_inputs_the_user_and_its_context(admin: Api) -> None:
    letter = await _letter(admin, "Ms Smith")
    template = "Dear {{ subject.title }}, you owe {{ input.amount }} {{ currency }} ({{ user.email }})."
    await declare(admin, render_action("remind", {"template": template, "context": {"currency": "EUR"}}))
    response = await call(admin, "letter", "remind", letter_id=letter, amount=12)
    rendered = result_of(response, "rendered_template")
    assert rendered == {
        "as": "text",
        "content_type": "text/plain; charset=utf-8",
        "text": "Dear Ms Smith, you owe 12 EUR (admin@example.com).",
    }


async def test_values_from_rows_are_inserted_never_run(admin: Api) -> None:
    letter = await _letter(admin, "{{ 7 * 7 }} {% raw %}")
    await declare(admin, render_action("echo", {"template": "[{{ subject.title }}]"}))
    rendered = result_of(await call(admin, "letter", "echo", letter_id=letter), "rendered_template")
    assert rendered["text"] == "[{{ 7 * 7 }} {% raw %}]"


async def test_context_values_are_rendered_by_the_chain_and_earlier_results_are_known(admin: Api) -> None:
    letter = await _letter(admin, "Ms Smith")
    action = render_action(
        "twice", {"template": "{{ who }} / {{ found.title }}", "context": {"who": "{{ user.email }}"}}
    )
    action["outcomes"].insert(
        0, {"type": "letter", "method": "get", "reference": "found", "attributes": {"id": "{{ subject.id }}"}}
    )
    await declare(admin, action)
    rendered = result_of(await call(admin, "letter", "twice", letter_id=letter), "rendered_template")
    assert rendered["text"] == "admin@example.com / Ms Smith"


async def test_html_escapes_what_it_inserts(admin: Api) -> None:
    letter = await _letter(admin, "<script>alert(1)</script>")
    await declare(admin, render_action("page", {"template": "<p>{{ subject.title }}</p>", "as": "html"}))
    rendered = result_of(await call(admin, "letter", "page", letter_id=letter), "rendered_template")
    assert rendered["text"] == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
    assert rendered["content_type"] == "text/html; charset=utf-8"


async def test_files_are_downloads_with_base64_content(admin: Api) -> None:
    letter = await _letter(admin, "Ms Smith")
    template = "title,amount\n{{ subject.title }},{{ input.amount }}\n"
    await declare(admin, render_action("letter_file", {"template": template, "as": "file", "file_name": "letter.csv"}))
    download = result_of(await call(admin, "letter", "letter_file", letter_id=letter, amount=3), "client.file.download")
    assert download["name"] == "letter.csv" and download["content_type"].startswith("text/csv")
    assert base64.b64decode(download["content"]).decode() == "title,amount\nMs Smith,3\n"
    html = {"template": "<b>{{ subject.title }}</b>", "as": "file", "file_name": "a.html", "content_type": "text/html"}
    await declare(admin, render_action("export_html", html))
    download = result_of(await call(admin, "letter", "export_html", letter_id=letter), "client.file.download")
    assert download["content_type"] == "text/html"
    assert base64.b64decode(download["content"]).decode() == "<b>Ms Smith</b>"


async def test_templates_are_checked_when_the_action_is_saved(admin: Api, probe: Probe) -> None:
    await _letter(admin, "x")
    unchanged = await probe.unchanged("action")
    for template, message in (
        ("{{ subject.nope }}", "no field 'nope'"),
        ("{{ missing }}", "unknown name 'missing'"),
        ("{% if %}", "invalid template"),
    ):
        body = assert_problem(await admin.post("/api/action", render_action("bad", {"template": template})), 400)
        assert body["errors"][0]["field"] == "outcomes[0].attributes.template"
        assert message in body["errors"][0]["message"]
    bad_as = render_action("bad", {"template": "x", "format": "text"})
    body = assert_problem(await admin.post("/api/action", bad_as), 400, "invalid-definition")
    assert body["errors"][0]["field"] == "outcomes[0].attributes.format"
    await unchanged.check()


async def test_rendering_errors_are_422_and_undo_the_chain(admin: Api, probe: Probe) -> None:
    letter = await _letter(admin, "Ms Smith")
    action = render_action("divide", {"template": "{{ 10 // input.amount }}"})
    action["outcomes"].insert(0, {"type": "letter", "method": "create", "attributes": {"title": "made"}})
    await declare(admin, action)
    unchanged = await probe.unchanged("letter")
    body = assert_problem(await call(admin, "letter", "divide", letter_id=letter, amount=0), 422, "template")
    assert "template" in body["detail"] and "division" in body["detail"] and body["step"] == 1
    await unchanged.check()


async def test_the_sandbox_refuses_unsafe_attributes(admin: Api) -> None:
    letter = await _letter(admin, "Ms Smith")
    for index, template in enumerate(("{{ subject.title.__class__.__mro__ }}", "{{ ''.__class__.__subclasses__() }}")):
        await declare(admin, render_action(f"unsafe{index}", {"template": template}))
        body = assert_problem(await call(admin, "letter", f"unsafe{index}", letter_id=letter), 422, "template")
        assert "could not be rendered" in body["detail"]


async def test_bad_options_are_422_naming_them(admin: Api) -> None:
    letter = await _letter(admin, "Ms Smith")
    cases = [
        ({"template": "x", "as": "file"}, "file_name", "required"),
        ({"template": "x", "as": "file", "file_name": "../etc/passwd"}, "file_name", "format"),
        ({"template": "x", "file_name": "a.txt"}, "file_name", "unsupported_option"),
        ({"template": "x", "content_type": "text/plain\r\nX-Evil: 1"}, "content_type", "format"),
        ({"template": "{{ user }}", "context": {"user": "me"}}, "context.user", "reserved"),
        ({"template": "{{ input }}", "context": {"input": "me"}}, "context.input", "reserved"),
        ({"template": "x", "context": {"not a name": 1}}, "context.not a name", "invalid_name"),
    ]
    for index, (attributes, field, code) in enumerate(cases):
        await declare(admin, render_action(f"bad{index}", attributes))
        body = assert_problem(await call(admin, "letter", f"bad{index}", letter_id=letter), 422, "validation")
        assert [(e["field"], e["code"]) for e in body["errors"]] == [(field, code)], body
    saved = await admin.post("/api/action", render_action("bad_as", {"template": "x", "as": "pdf"}))
    assert assert_problem(saved, 400, "invalid-definition")["errors"][0]["field"] == "outcomes[0].attributes.as"
    await declare(admin, render_action("bad_as", {"template": "x", "as": "{{ 'p' ~ 'df' }}"}))
    body = assert_problem(await call(admin, "letter", "bad_as", letter_id=letter), 422, "validation")
    assert body["errors"][0]["field"] == "outcomes[0].attributes.as"
