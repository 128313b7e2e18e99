"""belongs_to, has_many and many_to_many relations: their storage, endpoints and delete rules."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, assert_problem
from tests.integration.entities.conftest import Probe, create_entity


def _child(name: str, on_delete: str = "restrict") -> dict[str, Any]:
    return {
        "name": name,
        "columns": [{"name": "number", "type": "integer"}, {"name": "text", "type": "string"}],
        "relations": [{"name": "customer", "type": "belongs_to", "target": "customer", "on_delete": on_delete}],
    }


DEFINITIONS: dict[str, dict[str, Any]] = {
    "customer": {"name": "customer", "columns": [{"name": "name", "type": "string"}]},
    "tag": {"name": "tag", "columns": [{"name": "label", "type": "string"}]},
    "invoice": _child("invoice"),
    "note": _child("note", "cascade"),
    "visit": _child("visit", "set_null"),
    "basket": {
        "name": "basket",
        "columns": [{"name": "number", "type": "integer"}],
        "relations": [{"name": "tags", "type": "many_to_many", "target": "tag"}],
    },
}
HAS_MANY = {"relations": [{"name": "invoices", "type": "has_many", "target": "invoice", "inverse": "customer"}]}


async def _model(admin: Api, *names: str, has_many: bool = False) -> dict[str, Any]:
    """Create the named entities (in order) and a customer row 'ACME'."""
    made = {name: await create_entity(admin, DEFINITIONS[name]) for name in names}
    if has_many:
        patched = await admin.patch(f"/api/entity/{made['customer']['id']}", HAS_MANY)
        assert patched.status_code == 200, patched.text
    if "customer" in made:
        made["acme"] = (await admin.post("/api/customer", {"name": "ACME"})).json()
    return made


async def _row(admin: Api, entity: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await admin.post(f"/api/{entity}", body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_belongs_to_adds_a_foreign_key_column(admin: Api, probe: Probe) -> None:
    made = await _model(admin, "customer", "invoice")
    assert "customer_id" in (await probe.tables())["invoice"]
    invoice = await _row(admin, "invoice", {"number": 1, "customer_id": made["acme"]["id"]})
    assert invoice["customer_id"] == made["acme"]["id"]
    embedded = (await admin.get(f"/api/invoice/{invoice['id']}", params={"include": "customer"})).json()
    assert embedded["customer"]["name"] == "ACME"
    related = await admin.get(f"/api/invoice/{invoice['id']}/customer")
    assert related.json()["id"] == made["acme"]["id"]


async def test_belongs_to_refuses_unknown_rows(admin: Api, probe: Probe) -> None:
    await _model(admin, "customer", "invoice")
    missing = "00000000-0000-4000-8000-000000000000"
    body = assert_problem(await admin.post("/api/invoice", {"number": 1, "customer_id": missing}), 422, "validation")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("customer_id", "not_found")]
    body = assert_problem(await admin.post("/api/invoice", {"customer_id": "nope"}), 422, "validation")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("customer_id", "format")]
    assert await probe.rows("invoice") == []


async def test_restrict_refuses_deleting_a_referenced_row(admin: Api, probe: Probe) -> None:
    made = await _model(admin, "customer", "invoice")
    acme = made["acme"]["id"]
    invoice = await _row(admin, "invoice", {"number": 1, "customer_id": acme})
    assert_problem(await admin.delete(f"/api/customer/{acme}"), 409, "in-use")
    assert (await admin.get(f"/api/customer/{acme}")).status_code == 200
    assert len(await probe.rows("invoice")) == 1
    assert (await admin.delete(f"/api/invoice/{invoice['id']}")).status_code == 204
    assert (await admin.delete(f"/api/customer/{acme}")).status_code == 204


async def test_cascade_and_set_null(admin: Api, probe: Probe) -> None:
    made = await _model(admin, "customer", "note", "visit")
    acme = made["acme"]["id"]
    other = (await admin.post("/api/customer", {"name": "Other"})).json()["id"]
    await _row(admin, "note", {"text": "gone with acme", "customer_id": acme})
    kept_note = await _row(admin, "note", {"text": "stays", "customer_id": other})
    visit = await _row(admin, "visit", {"text": "kept", "customer_id": acme})
    assert (await admin.delete(f"/api/customer/{acme}")).status_code == 204
    assert [r["text"] for r in await probe.rows("note")] == ["stays"]
    assert (await admin.get(f"/api/note/{kept_note['id']}")).json()["customer_id"] == other
    after = (await admin.get(f"/api/visit/{visit['id']}")).json()
    assert after["customer_id"] is None
    assert after["text"] == "kept"


async def test_has_many_lists_the_rows_pointing_here(admin: Api) -> None:
    made = await _model(admin, "customer", "invoice", has_many=True)
    acme = made["acme"]["id"]
    other = (await admin.post("/api/customer", {"name": "Other"})).json()["id"]
    for number, customer in ((1, acme), (2, acme), (3, other)):
        await _row(admin, "invoice", {"number": number, "customer_id": customer})
    listed = (await admin.get(f"/api/customer/{acme}/invoices", params={"sort": "number"})).json()
    assert [r["number"] for r in listed["data"]] == [1, 2]
    assert listed["meta"]["total"] == 2
    included = (await admin.get(f"/api/customer/{acme}", params={"include": "invoices"})).json()
    assert sorted(r["number"] for r in included["invoices"]) == [1, 2]
    body = assert_problem(await admin.post(f"/api/customer/{acme}/invoices", {"id": acme}), 405)
    assert "invoice" in body["detail"]


async def test_many_to_many_link_and_unlink(admin: Api, probe: Probe) -> None:
    await _model(admin, "tag", "basket")
    basket = await _row(admin, "basket", {"number": 7})
    red = await _row(admin, "tag", {"label": "red"})
    blue = await _row(admin, "tag", {"label": "blue"})
    url = f"/api/basket/{basket['id']}/tags"
    for tag in (red, blue, red):
        response = await admin.post(url, {"id": tag["id"]})
        assert response.status_code == 204, response.text
    assert len(await probe.rows("tag")) == 2
    assert len(await probe.rows("basket")) == 1
    assert sorted(r["label"] for r in (await admin.get(url)).json()["data"]) == ["blue", "red"]
    included = (await admin.get(f"/api/basket/{basket['id']}", params={"include": "tags"})).json()
    assert sorted(t["label"] for t in included["tags"]) == ["blue", "red"]
    assert (await admin.delete(f"{url}/{red['id']}")).status_code == 204
    assert [r["label"] for r in (await admin.get(url)).json()["data"]] == ["blue"]
    assert_problem(await admin.delete(f"{url}/{red['id']}"), 404, "not-found")
    # Deleting a linked row removes its links, not the row on the other side.
    assert (await admin.delete(f"/api/tag/{blue['id']}")).status_code == 204
    assert (await admin.get(url)).json()["data"] == []
    assert (await admin.get(f"/api/basket/{basket['id']}")).status_code == 200


async def test_many_to_many_refuses_bad_links(admin: Api) -> None:
    made = await _model(admin, "customer", "tag", "basket")
    basket = await _row(admin, "basket", {"number": 7})
    url = f"/api/basket/{basket['id']}/tags"
    missing = "00000000-0000-4000-8000-000000000000"
    body = assert_problem(await admin.post(url, {"id": missing}), 422, "validation")
    assert body["errors"][0]["field"] == "id"
    assert_problem(await admin.post(url, {"id": "not-a-uuid"}), 422, "validation")
    assert_problem(await admin.post(url, {"tag": missing}), 422, "validation")
    assert_problem(await admin.post(url, ["x"]), 400, "invalid-body")
    # A customer row is not a tag, even though it exists.
    assert_problem(await admin.post(url, {"id": made["acme"]["id"]}), 422, "validation")
    assert_problem(await admin.get(f"/api/basket/{basket['id']}/nothing"), 404, "not-found")
    assert (await admin.get(url)).json()["data"] == []


async def test_entity_include_shows_columns_and_relations(admin: Api) -> None:
    made = await _model(admin, "customer", "invoice", has_many=True)
    response = await admin.get(f"/api/entity/{made['invoice']['id']}", params={"include": "columns,relations"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "invoice"
    columns = sorted(body["columns"], key=lambda c: c["position"])
    assert [(c["name"], c["type"]) for c in columns] == [("number", "integer"), ("text", "string")]
    assert [(r["name"], r["type"], r["target"], r["on_delete"]) for r in body["relations"]] == [
        ("customer", "belongs_to", "customer", "restrict")
    ]
    customer = (await admin.get(f"/api/entity/{made['customer']['id']}", params={"include": "relations"})).json()
    assert [(r["name"], r["type"], r["inverse"]) for r in customer["relations"]] == [
        ("invoices", "has_many", "customer")
    ]
    assert_problem(await admin.get(f"/api/entity/{made['invoice']['id']}", params={"include": "owners"}), 400)
