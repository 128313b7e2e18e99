"""Invalid definitions are refused whole, naming every problem by its path, and create nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, assert_problem
from tests.integration.entities.conftest import Probe, create_entity

Case = tuple[str, dict[str, Any], list[tuple[str, str]]]
OK = {"name": "ok", "type": "string"}


def _entity(*columns: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": "thing", "columns": list(columns), **extra}


def _column(name: str, type_: str, **options: Any) -> dict[str, Any]:
    return _entity({"name": name, "type": type_, **options})


def _relation(**relation: Any) -> dict[str, Any]:
    return _entity(relations=[relation])


CASES: dict[str, list[Case]] = {
    "reserved_entity_names": [
        ("api", {"name": "api"}, [("name", "invalid_name")]),
        ("schema", {"name": "schema"}, [("name", "invalid_name")]),
        ("sqlite prefix", {"name": "sqlite_x"}, [("name", "invalid_name")]),
        ("postgres prefix", {"name": "pg_things"}, [("name", "invalid_name")]),
        ("platform prefix", {"name": "stateyard_meta"}, [("name", "invalid_name")]),
        ("system flag", {"name": "mine", "system": True}, [("system", "reserved")]),
    ],
    "malformed_entity_names": [
        ("upper case", {"name": "Order"}, [("name", "invalid_name")]),
        ("double underscore", {"name": "a__b"}, [("name", "invalid_name")]),
        ("leading digit", {"name": "1st"}, [("name", "invalid_name")]),
        ("too long", {"name": "x" * 64}, [("name", "invalid_name")]),
        ("empty", {"name": ""}, [("name", "invalid_name")]),
    ],
    "column_names": [
        ("space", _entity(OK, {"name": "Bad Name", "type": "string"}), [("columns[1].name", "invalid_name")]),
        ("double underscore", _column("a__b", "string"), [("columns[0].name", "invalid_name")]),
        ("id", _column("id", "uuid"), [("columns[0].name", "duplicate")]),
        ("version", _entity(OK, {"name": "version", "type": "integer"}), [("columns[1].name", "duplicate")]),
        ("owner_id", _column("owner_id", "uuid"), [("columns[0].name", "duplicate")]),
        ("created_at", _column("created_at", "datetime"), [("columns[0].name", "duplicate")]),
        ("permission", _column("permission", "integer"), [("columns[0].name", "duplicate")]),
        ("twice", _entity(OK, {"name": "ok", "type": "text"}), [("columns[1].name", "duplicate")]),
    ],
    "column_types": [
        ("unknown", _entity(OK, {"name": "c", "type": "colour"}), [("columns[1].type", "unknown_type")]),
        ("internal", _column("p", "permission"), [("columns[0].type", "unknown_type")]),
        ("enum without options", _column("e", "enum"), [("columns[0]", "invalid_column")]),
        ("enum with no options", _column("e", "enum", options=[]), [("columns[0]", "invalid_column")]),
        ("enum repeating options", _column("e", "enum", options=["a", "a"]), [("columns[0]", "invalid_column")]),
    ],
    "options_that_do_not_fit_the_type": [
        (
            "max_length on integer",
            _column("n", "integer", max_length=3),
            [("columns[0].max_length", "unsupported_option")],
        ),
        ("options on string", _column("s", "string", options=["a"]), [("columns[0].options", "unsupported_option")]),
        ("pattern on email", _column("s", "email", pattern="x"), [("columns[0].pattern", "unsupported_option")]),
        (
            "readers on string",
            _column("s", "string", readers=["owner"]),
            [("columns[0].readers", "unsupported_option")],
        ),
        ("min on date", _column("d", "date", min=1), [("columns[0].min", "unsupported_option")]),
        ("scale on float", _column("f", "float", scale=2), [("columns[0].scale", "unsupported_option")]),
        ("unique json", _column("j", "json", unique=True), [("columns[0]", "unsupported_option")]),
        ("indexed password", _column("p", "password", indexed=True), [("columns[0]", "unsupported_option")]),
    ],
    "option_values": [
        (
            "default of another type",
            _column("n", "integer", default="many"),
            [("columns[0].default", "invalid_default")],
        ),
        (
            "default out of bounds",
            _column("n", "integer", min=1, max=5, default=9),
            [("columns[0].default", "invalid_default")],
        ),
        (
            "default not an option",
            _column("e", "enum", options=["a"], default="b"),
            [("columns[0].default", "invalid_default")],
        ),
        (
            "default on a password",
            _column("p", "password", default="secret-secret"),
            [("columns[0].default", "invalid_default")],
        ),
        ("min above max", _column("n", "float", min=5, max=1), [("columns[0]", "invalid_column")]),
        ("invalid pattern", _column("s", "string", pattern="(unclosed"), [("columns[0]", "invalid_column")]),
        ("zero max_length", _column("s", "string", max_length=0), [("columns[0]", "invalid_column")]),
        ("scale above precision", _column("d", "decimal", precision=4, scale=6), [("columns[0]", "invalid_column")]),
    ],
    "relations": [
        (
            "unknown target",
            _relation(name="boss", type="belongs_to", target="nowhere"),
            [("relations[0].target", "unknown_entity")],
        ),
        (
            "has_many without inverse",
            _relation(name="accounts", type="has_many", target="user_account"),
            [("relations[0].inverse", "missing_inverse")],
        ),
        (
            "required set_null",
            _relation(name="user", type="belongs_to", target="user_account", required=True, on_delete="set_null"),
            [("relations[0].on_delete", "invalid_relation")],
        ),
        (
            "required many_to_many",
            _relation(name="users", type="many_to_many", target="user_account", required=True),
            [("relations[0].required", "unsupported_option")],
        ),
        (
            "named like a column",
            _entity(OK, relations=[{"name": "ok", "type": "many_to_many", "target": "user_account"}]),
            [("relations[0].name", "duplicate")],
        ),
        (
            "foreign key named like a column",
            _entity(
                {"name": "user_id", "type": "uuid"},
                relations=[{"name": "user", "type": "belongs_to", "target": "user_account"}],
            ),
            [("relations[0].name", "duplicate")],
        ),
        (
            "foreign key named like a row column",
            _relation(name="owner", type="belongs_to", target="user_account"),
            [("relations[0].name", "duplicate")],
        ),
        (
            "reserved name",
            _relation(name="history", type="many_to_many", target="user_account"),
            [("relations[0].name", "invalid_name")],
        ),
    ],
    "groups_and_indexes": [
        ("unknown group", _entity(OK, groups=["users", "ghosts"]), [("groups", "unknown_group")]),
        ("unknown row group", _entity(OK, row_groups=["ghosts"]), [("row_groups", "unknown_group")]),
        (
            "index on an unknown column",
            _entity(OK, indexes=[{"columns": ["ok", "nope"]}]),
            [("indexes[0].columns", "unknown_column")],
        ),
        ("empty index", _entity(OK, indexes=[{"columns": []}]), [("indexes[0].columns", "invalid_index")]),
    ],
}


@pytest.mark.parametrize("group", list(CASES))
async def test_invalid_definition_is_refused(admin: Api, probe: Probe, group: str) -> None:
    before = await probe.state()
    for case, body, expected in CASES[group]:
        problem = assert_problem(await admin.post("/api/entity", body), 400, "invalid-definition")
        assert [(e["field"], e["code"]) for e in problem["errors"]] == expected, case
        assert all(e["message"] for e in problem["errors"]), case
        assert await probe.state() == before, case


async def test_every_problem_is_reported_at_once(admin: Api, probe: Probe) -> None:
    before = await probe.state()
    body = {
        "name": "thing",
        "columns": [
            {"name": "id", "type": "string"},
            {"name": "n", "type": "integer", "max_length": 3, "default": "x"},
            {"name": "e", "type": "enum"},
            {"name": "c", "type": "colour"},
        ],
        "relations": [{"name": "boss", "type": "belongs_to", "target": "nowhere"}],
        "groups": ["ghosts"],
    }
    problem = assert_problem(await admin.post("/api/entity", body), 400, "invalid-definition")
    assert [e["field"] for e in problem["errors"]] == [
        "columns[0].name",
        "columns[1].max_length",
        "columns[1].default",
        "columns[2]",
        "columns[3].type",
        "relations[0].target",
        "groups",
    ]
    assert "7 problem(s)" in problem["detail"]
    assert await probe.state() == before


MALFORMED: list[tuple[str, Any, str]] = [
    ("unknown key", {"name": "thing", "colour": "red"}, "body"),
    (
        "unknown column key",
        {"name": "thing", "columns": [{"name": "a", "type": "string", "colour": "red"}]},
        "columns[0]",
    ),
    ("column without type", {"name": "thing", "columns": [{"name": "a"}]}, "columns[0]"),
    ("name not a string", {"name": 5}, "name"),
    ("no name", {"columns": []}, "body"),
    ("columns not a list", {"name": "thing", "columns": {"a": "string"}}, "columns"),
    (
        "unknown relation type",
        {"name": "thing", "relations": [{"name": "r", "type": "owns", "target": "user_account"}]},
        "relations[0].type",
    ),
    ("unknown verb", {"name": "thing", "permissions": {"table": {"guest": ["fly"]}}}, "body"),
]


async def test_malformed_definition_is_refused(admin: Api, probe: Probe) -> None:
    before = await probe.state()
    for case, body, field in MALFORMED:
        problem = assert_problem(await admin.post("/api/entity", body), 400, "invalid-definition")
        assert [e["field"] for e in problem["errors"]] == [field], case
        assert await probe.state() == before, case
    assert_problem(await admin.post("/api/entity", ["thing"]), 400, "invalid-body")
    not_json = await admin.post("/api/entity", content=b"{not json", headers={"Content-Type": "application/json"})
    assert_problem(not_json, 400, "invalid-body")
    assert await probe.state() == before


async def test_existing_entity_is_a_conflict(admin: Api, probe: Probe) -> None:
    await create_entity(admin, {"name": "thing", "columns": [OK]})
    before = await probe.state()
    body = assert_problem(await admin.post("/api/entity", {"name": "thing"}), 409, "duplicate")
    assert "thing" in body["detail"]
    assert_problem(await admin.post("/api/entity", {"name": "user_account"}), 409, "duplicate")
    assert await probe.state() == before


async def test_invalid_change_to_an_existing_entity_changes_nothing(admin: Api, probe: Probe) -> None:
    entity = await create_entity(admin, {"name": "thing", "columns": [OK]})
    before = await probe.state()
    for patch, field in (
        ({"columns": [OK, {"name": "n", "type": "integer", "min": 9, "max": 1}]}, "columns[1]"),
        ({"relations": [{"name": "x", "type": "belongs_to", "target": "nowhere"}]}, "relations[0].target"),
        ({"groups": ["ghosts"]}, "groups"),
        ({"name": "renamed"}, "name"),
        ({"columns": "none"}, "columns"),
    ):
        body = assert_problem(await admin.patch(f"/api/entity/{entity['id']}", patch), 400, "invalid-definition")
        assert [e["field"] for e in body["errors"]] == [field], patch
    assert await probe.state() == before


async def _team_and_member(admin: Api) -> tuple[dict[str, Any], dict[str, Any]]:
    team = await create_entity(admin, {"name": "team"})
    member = await create_entity(
        admin, {"name": "member", "relations": [{"name": "team", "type": "belongs_to", "target": "team"}]}
    )
    patched = await admin.patch(
        f"/api/entity/{team['id']}", {"relations": [{"name": "members", "type": "has_many", "target": "member"}]}
    )
    assert patched.status_code == 200, patched.text
    return team, member


async def test_has_many_is_accepted_once_the_inverse_exists(admin: Api) -> None:
    team, _ = await _team_and_member(admin)
    shown = (await admin.get(f"/api/entity/{team['id']}", params={"include": "relations"})).json()
    assert [(r["name"], r["target"]) for r in shown["relations"]] == [("members", "member")]


async def test_a_belongs_to_that_a_has_many_needs_cannot_be_removed(admin: Api, probe: Probe) -> None:
    _, member = await _team_and_member(admin)
    before = await probe.state()
    response = await admin.patch(f"/api/entity/{member['id']}", {"relations": []}, params={"allow_destructive": "true"})
    body = assert_problem(response, 400, "invalid-definition")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("relations", "in_use")]
    assert "team.members" in body["errors"][0]["message"]
    assert await probe.state() == before
