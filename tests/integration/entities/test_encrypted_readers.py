"""Encrypted columns: clear text for administrators and the declared readers, nothing for others."""

from __future__ import annotations

import uuid

from tests.conftest import Api, assert_problem
from tests.integration.entities.conftest import Probe, create_entity

VAULT = {
    "name": "vault",
    "columns": [
        {"name": "label", "type": "string"},
        {"name": "code", "type": "encrypted"},
        {"name": "note", "type": "encrypted", "readers": ["auditors"]},
        {"name": "master", "type": "encrypted", "readers": []},
    ],
    "permissions": {
        "table": {"owner": ["all"], "group": ["peek", "read", "create"]},
        "row": {"owner": ["all"], "group": ["peek", "read"]},
    },
    "row_groups": ["users"],
}
SECRETS = {"label": "box", "code": "1234", "note": "audit me", "master": "root"}


async def _setup(admin: Api) -> tuple[Api, Api, Api, str]:
    group = await admin.post("/api/usergroup", {"name": "auditors"})
    assert group.status_code == 201, group.text
    await create_entity(admin, VAULT)
    owner = await admin.signup("owner@example.com")
    auditor = await admin.signup("auditor@example.com")
    stranger = await admin.signup("stranger@example.com")
    linked = await admin.post(f"/api/usergroup/{group.json()['id']}/members", {"id": (await auditor.me())["id"]})
    assert linked.status_code == 204, linked.text
    created = await owner.post("/api/vault", SECRETS)
    assert created.status_code == 201, created.text
    return owner, auditor, stranger, created.json()["id"]


def _secrets(row: dict) -> dict:
    return {k: row.get(k) for k in ("code", "note", "master") if k in row}


async def test_each_reader_sees_only_its_columns(admin: Api) -> None:
    owner, auditor, stranger, row_id = await _setup(admin)
    assert _secrets((await admin.get(f"/api/vault/{row_id}")).json()) == {
        "code": "1234",
        "note": "audit me",
        "master": "root",
    }
    assert _secrets((await owner.get(f"/api/vault/{row_id}")).json()) == {"code": "1234"}
    assert _secrets((await auditor.get(f"/api/vault/{row_id}")).json()) == {"note": "audit me"}
    seen_by_stranger = (await stranger.get(f"/api/vault/{row_id}")).json()
    assert seen_by_stranger["label"] == "box"
    assert _secrets(seen_by_stranger) == {}
    listed = (await stranger.get("/api/vault")).json()["data"]
    assert [_secrets(r) for r in listed] == [{}]


async def test_the_creator_sees_what_they_may_read_in_the_answer(admin: Api) -> None:
    owner, _, _, _ = await _setup(admin)
    created = await owner.post("/api/vault", {"label": "second", "code": "9", "master": "m"})
    assert _secrets(created.json()) == {"code": "9"}


async def test_ciphertexts_stay_out_of_the_audit_log(admin: Api, probe: Probe) -> None:
    _, _, _, row_id = await _setup(admin)
    (entry,) = await probe.rows("audit_log", entity="vault", row_id=uuid.UUID(row_id))
    assert entry["after"]["code"] == entry["after"]["note"] == entry["after"]["master"] == "[hidden]"


async def test_readers_must_name_known_groups(admin: Api, probe: Probe) -> None:
    before = await probe.state()
    body = assert_problem(
        await admin.post(
            "/api/entity",
            {"name": "safe", "columns": [{"name": "pin", "type": "encrypted", "readers": ["owner", "nobody"]}]},
        ),
        400,
        "invalid-definition",
    )
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("columns[0].readers", "unknown_group")]
    assert await probe.state() == before
