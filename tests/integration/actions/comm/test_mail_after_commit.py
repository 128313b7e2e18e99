"""mail.send leaves through a real SMTP server, and only once the chain that asked for it committed."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, assert_problem
from tests.integration.actions.comm.conftest import Mailbox, declared, free_port, new_order
from tests.integration.crud.conftest import Probe

PAID_THEN_MAIL = [
    {
        "type": "order",
        "method": "update",
        "reference": "paid",
        "attributes": {"id": "{{ subject.id }}", "status": "paid"},
    },
    {
        "type": "mail.send",
        "reference": "mail",
        "attributes": {
            "to": ["{{ input.email }}"],
            "cc": ["sales@example.com"],
            "bcc": "audit@example.com",
            "reply_to": "help@example.com",
            "subject": "Order {{ subject.customer }} is {{ paid.status }}",
            "text": "Hello {{ subject.customer }},\nyour order of {{ subject.total }} is {{ paid.status }}.",
            "html": "<p>Order <b>{{ subject.customer }}</b> is {{ paid.status }}.</p>",
        },
    },
    {"type": "client.notify", "attributes": {"message": "Mailed {{ mail.recipients }} people"}},
]
EMAIL_INPUT = [{"name": "email", "type": "email", "required": True}]


@pytest.fixture
def overrides(smtp_settings: dict[str, Any]) -> dict[str, Any]:
    return smtp_settings


async def test_the_mail_is_rendered_from_the_row_and_sent_after_the_update(
    admin: Api, order_entity: Any, mailbox: Mailbox, deliver: Any
) -> None:
    await declared(admin, PAID_THEN_MAIL, in_fields=EMAIL_INPUT)
    order = await new_order(admin, "ACME", 42)
    called = await admin.post("/action/order/notify", {"attributes": {"order_id": order["id"], "email": "bo@acme.io"}})
    assert called.status_code == 200, called.text
    assert [d["type"] for d in called.json()] == ["order", "client.notify"]
    assert called.json()[1]["attributes"]["message"] == "Mailed 3 people"
    assert (await admin.get(f"/api/order/{order['id']}")).json()["status"] == "paid"
    assert mailbox.received == []  # queued with the commit, delivered by a worker
    assert (await deliver())["statuses"] == ["succeeded"]

    (sender, recipients, message) = mailbox.received[0]
    assert len(mailbox.received) == 1
    assert sender == "shop@example.com"
    assert recipients == ["bo@acme.io", "sales@example.com", "audit@example.com"]
    assert message["Subject"] == "Order ACME is paid"
    assert message["To"] == "bo@acme.io" and message["Cc"] == "sales@example.com"
    assert message["Reply-To"] == "help@example.com" and message["From"] == "shop@example.com"
    assert message["Bcc"] is None
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    assert text.get_content() == "Hello ACME,\nyour order of 42.0 is paid.\n"
    assert html.get_content().strip() == "<p>Order <b>ACME</b> is paid.</p>"


async def test_a_chain_that_fails_after_the_mail_step_sends_nothing(
    admin: Api, order_entity: Any, mailbox: Mailbox, probe: Probe, deliver: Any
) -> None:
    failing = {"type": "order", "method": "update", "attributes": {"id": "{{ subject.id }}", "status": "lost"}}
    await declared(admin, [*PAID_THEN_MAIL, failing], in_fields=EMAIL_INPUT)
    order = await new_order(admin)
    unchanged = await probe.unchanged("order")
    called = await admin.post("/action/order/notify", {"attributes": {"order_id": order["id"], "email": "bo@acme.io"}})
    body = assert_problem(called, 422, "validation")
    assert body["step"] == 3
    assert (await deliver())["jobs"] == 0
    assert mailbox.received == []
    await unchanged.check()


async def test_two_mails_of_one_chain_both_leave(admin: Api, order_entity: Any, mailbox: Mailbox, deliver: Any) -> None:
    first = {"to": "a@example.com", "subject": "{{ subject.customer }}", "text": "1"}
    mail = {"type": "mail.send", "attributes": first}
    second = {**mail, "attributes": {**first, "to": "b@example.com", "text": "2"}}
    await declared(admin, [mail, second])
    order = await new_order(admin, "Two")
    called = await admin.post("/action/order/notify", {"attributes": {"order_id": order["id"]}})
    assert called.status_code == 200, called.text
    await deliver()
    assert sorted((r, m["Subject"], m.get_content()) for _, r, m in mailbox.received) == [
        (["a@example.com"], "Two", "1\n"),
        (["b@example.com"], "Two", "2\n"),
    ]


@pytest.mark.parametrize("overrides", [{"smtp_host": "127.0.0.1", "smtp_port": free_port()}])
async def test_an_smtp_failure_after_the_commit_keeps_the_changes_and_retries_later(
    admin: Api, order_entity: Any, mailbox: Mailbox, deliver: Any
) -> None:
    await declared(admin, PAID_THEN_MAIL, in_fields=EMAIL_INPUT)
    order = await new_order(admin)
    called = await admin.post("/action/order/notify", {"attributes": {"order_id": order["id"], "email": "bo@acme.io"}})
    assert called.status_code == 200, called.text
    assert (await admin.get(f"/api/order/{order['id']}")).json()["status"] == "paid"
    delivered = await deliver()
    assert mailbox.received == []
    # Nobody listens on that port: the job waits for its retry instead of losing the message.
    assert delivered["statuses"] == ["queued"] and "ConnectionRefusedError" in delivered["errors"][0]


async def test_an_html_only_mail_has_no_empty_text_part(
    admin: Api, order_entity: Any, mailbox: Mailbox, deliver: Any
) -> None:
    html = {"to": "a@example.com", "subject": "Ünïcode {{ subject.customer }}", "html": "<p>{{ subject.customer }}</p>"}
    await declared(admin, [{"type": "mail.send", "attributes": html}])
    order = await new_order(admin, "Zoë")
    called = await admin.post("/action/order/notify", {"attributes": {"order_id": order["id"]}})
    assert called.status_code == 200, called.text
    await deliver()
    (_, _, message) = mailbox.received[0]
    assert message["Subject"] == "Ünïcode Zoë"
    assert message.get_content_type() == "text/html"
    assert message.get_content().strip() == "<p>Zoë</p>"


async def test_values_inserted_into_an_html_body_are_escaped(
    admin: Api, order_entity: Any, mailbox: Mailbox, deliver: Any
) -> None:
    html = {"to": "a@example.com", "subject": "Hi", "html": "<p>{{ subject.customer }}</p>"}
    await declared(admin, [{"type": "mail.send", "attributes": html}])
    order = await new_order(admin, "<script>alert(1)</script>")
    called = await admin.post("/action/order/notify", {"attributes": {"order_id": order["id"]}})
    assert called.status_code == 200, called.text
    await deliver()
    (_, _, message) = mailbox.received[0]
    assert message.get_content().strip() == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
