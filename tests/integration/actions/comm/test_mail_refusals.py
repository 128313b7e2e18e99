"""mail.send refuses what it cannot send: when saved if it can tell then, else when the action runs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, assert_problem
from tests.integration.actions.comm.conftest import Mailbox, declare, declared, new_order
from tests.integration.crud.conftest import Probe

UPDATE = {"type": "order", "method": "update", "attributes": {"id": "{{ subject.id }}", "status": "paid"}}


def mail(**attributes: Any) -> dict[str, Any]:
    base = {"to": ["{{ input.to }}"], "subject": "Order {{ subject.customer }}", "text": "Thanks"}
    return {"type": "mail.send", "attributes": {**base, **attributes}}


TO_INPUT = [{"name": "to", "type": "string"}]


@pytest.fixture
def overrides(smtp_settings: dict[str, Any]) -> dict[str, Any]:
    return smtp_settings


@pytest.mark.parametrize(
    ("attributes", "field", "code"),
    [
        ({"from": "me@example.com"}, "outcomes[0].attributes.from", "unknown"),
        ({"to": 5}, "outcomes[0].attributes.to", "invalid"),
        ({"cc": [1, 2]}, "outcomes[0].attributes.cc", "invalid"),
        ({"subject": ["a"]}, "outcomes[0].attributes.subject", "invalid"),
        ({"text": "{{ subject.nope }}"}, "outcomes[0].attributes.text", "invalid_template"),
    ],
)
async def test_a_statically_wrong_mail_outcome_is_refused_when_saved(
    admin: Api, order_entity: Any, probe: Probe, attributes: dict[str, Any], field: str, code: str
) -> None:
    unchanged = await probe.unchanged("action")
    body = assert_problem(await declare(admin, [mail(**attributes)], in_fields=TO_INPUT), 400, "invalid-definition")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [(field, code)]
    await unchanged.check()


async def test_a_mail_outcome_needs_to_and_subject(admin: Api, order_entity: Any) -> None:
    body = assert_problem(await declare(admin, [{"type": "mail.send", "attributes": {}}]), 400, "invalid-definition")
    assert {e["field"] for e in body["errors"]} == {"outcomes[0].attributes.to", "outcomes[0].attributes.subject"}


@pytest.mark.parametrize(
    ("to", "outcome", "fields"),
    [
        ("not-an-address", {}, ["to[0]"]),
        ("bo@acme.io, eve@evil.io", {}, ["to[0]"]),
        ("Bo <bo@acme.io>", {}, ["to[0]"]),
        ("bo@acme.io\r\nBcc: eve@evil.io", {}, ["to[0]"]),
        ("bo@acme.io", {"cc": ["ok@example.com", "nope"], "reply_to": "@x"}, ["cc[1]", "reply_to"]),
        ("bo@acme.io", {"text": None, "html": None}, ["text"]),
        ("bo@acme.io", {"subject": "  "}, ["subject"]),
        ("bo@acme.io", {"subject": "{{ subject.customer }}\nBcc: eve@evil.io"}, ["subject"]),
        ("bo@acme.io", {"bcc": [f"p{i}@example.com" for i in range(50)]}, ["to"]),
        ("bo@acme.io", {"to": []}, ["to"]),
    ],
)
async def test_invalid_rendered_values_answer_422_naming_them_and_change_nothing(
    admin: Api,
    order_entity: Any,
    mailbox: Mailbox,
    probe: Probe,
    deliver: Any,
    to: str,
    outcome: dict[str, Any],
    fields: list[str],
) -> None:
    await declared(admin, [UPDATE, mail(**outcome)], in_fields=TO_INPUT)
    order = await new_order(admin)
    unchanged = await probe.unchanged("order")
    called = await admin.post("/action/order/notify", {"attributes": {"order_id": order["id"], "to": to}})
    body = assert_problem(called, 422, "validation")
    assert [e["field"] for e in body["errors"]] == fields
    assert body["step"] == 1 and body["outcome"] == "mail.send"
    assert (await deliver())["jobs"] == 0
    assert mailbox.received == []
    await unchanged.check()


async def test_fifty_recipients_are_allowed(admin: Api, order_entity: Any, mailbox: Mailbox, deliver: Any) -> None:
    others = [f"p{i}@example.com" for i in range(49)]
    await declared(admin, [mail(cc=others)], in_fields=TO_INPUT)
    order = await new_order(admin)
    called = await admin.post("/action/order/notify", {"attributes": {"order_id": order["id"], "to": "bo@acme.io"}})
    assert called.status_code == 200, called.text
    await deliver()
    assert len(mailbox.received[0][1]) == 50


@pytest.mark.parametrize("overrides", [{}])
async def test_without_an_smtp_server_the_action_answers_503_and_changes_nothing(
    admin: Api, order_entity: Any, probe: Probe
) -> None:
    await declared(admin, [UPDATE, mail()], in_fields=TO_INPUT)
    order = await new_order(admin)
    unchanged = await probe.unchanged("order")
    called = await admin.post("/action/order/notify", {"attributes": {"order_id": order["id"], "to": "bo@acme.io"}})
    body = assert_problem(called, 503, "mail-not-configured")
    assert body["step"] == 1
    await unchanged.check()


async def test_callers_who_may_not_act_on_the_row_send_nothing(
    admin: Api, guest: Api, order_entity: Any, mailbox: Mailbox, deliver: Any
) -> None:
    await declared(admin, [mail()], in_fields=TO_INPUT)
    order = await new_order(admin)
    attributes = {"attributes": {"order_id": order["id"], "to": "bo@acme.io"}}
    assert_problem(await guest.post("/action/order/notify", attributes), 401)
    user = await admin.as_guest().signup("someone@example.com")
    # The administrator's order is not even visible to another user.
    assert_problem(await user.post("/action/order/notify", attributes), 404, "not-found")
    assert (await deliver())["jobs"] == 0
    assert mailbox.received == []
