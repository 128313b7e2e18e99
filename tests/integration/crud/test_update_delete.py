from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from stateyard.core.clock import FrozenClock
from tests.conftest import Api, assert_problem
from tests.integration.crud.conftest import Probe


async def make(admin: Api, **values: Any) -> dict[str, Any]:
    response = await admin.post("/api/gadget", {"title": "T", **values})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_patch_changes_only_given_fields(admin: Api, gadget: Any, clock: FrozenClock) -> None:
    row = await make(admin, qty=5, notes="keep", kind="toy")
    clock.advance(dt.timedelta(minutes=5))
    response = await admin.patch(f"/api/gadget/{row['id']}", {"qty": 7, "notes": None})
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched["qty"] == 7 and patched["notes"] is None and patched["kind"] == "toy"
    assert patched["version"] == 2
    assert patched["created_at"] == row["created_at"]
    assert patched["updated_at"] == "2026-01-01T00:05:00Z"
    assert (await admin.get(f"/api/gadget/{row['id']}")).json() == patched


async def test_patch_with_current_version(admin: Api, gadget: Any) -> None:
    row = await make(admin)
    first = await admin.patch(f"/api/gadget/{row['id']}", {"qty": 2, "version": 1})
    second = await admin.patch(f"/api/gadget/{row['id']}", {"qty": 3, "version": 2})
    assert (first.json()["version"], second.json()["version"]) == (2, 3)


async def test_empty_patch_still_bumps_version(admin: Api, gadget: Any) -> None:
    row = await make(admin)
    response = await admin.patch(f"/api/gadget/{row['id']}", {})
    assert response.status_code == 200 and response.json()["version"] == 2


async def test_stale_version_is_refused(admin: Api, gadget: Any, probe: Probe) -> None:
    row = await make(admin)
    await admin.patch(f"/api/gadget/{row['id']}", {"qty": 2})
    state = await probe.unchanged("gadget")
    body = assert_problem(await admin.patch(f"/api/gadget/{row['id']}", {"qty": 9, "version": 1}), 409, "stale-version")
    assert body["current_version"] == 2 and body["id"] == row["id"]
    await state.check()


async def test_future_version_is_refused(admin: Api, gadget: Any, probe: Probe) -> None:
    row = await make(admin)
    state = await probe.unchanged("gadget")
    body = assert_problem(await admin.patch(f"/api/gadget/{row['id']}", {"qty": 9, "version": 5}), 409, "stale-version")
    assert body["current_version"] == 1
    await state.check()


async def test_concurrent_patches_with_one_version_one_wins(admin: Api, gadget: Any, probe: Probe) -> None:
    row = await make(admin)
    bodies = [{"qty": n, "version": 1} for n in range(5)]
    responses = await probe.concurrently(admin, "PATCH", f"/api/gadget/{row['id']}", bodies)
    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409, 409], [r.text for r in responses]
    winner = next(r.json() for r in responses if r.status_code == 200)
    (stored,) = await probe.rows("gadget")
    assert stored["version"] == 2 and stored["qty"] == winner["qty"]
    updates = [e for e in await probe.rows("audit_log") if e["operation"] == "update" and e["entity"] == "gadget"]
    assert len(updates) == 1


async def test_patch_missing_or_malformed_id_is_not_found(admin: Api, gadget: Any, probe: Probe) -> None:
    await make(admin)
    state = await probe.unchanged("gadget")
    for raw_id in ("0190c6d8-0000-7000-8000-000000000000", "not-a-uuid", "12345"):
        body = assert_problem(await admin.patch(f"/api/gadget/{raw_id}", {"qty": 2}), 404, "not-found")
        assert body["entity"] == "gadget"
    await state.check()


async def test_patch_with_invalid_values_writes_nothing(admin: Api, gadget: Any, probe: Probe) -> None:
    row = await make(admin)
    state = await probe.unchanged("gadget")
    response = await admin.patch(f"/api/gadget/{row['id']}", {"qty": -4, "contact": "nope", "version": 1})
    body = assert_problem(response, 422, "validation")
    assert sorted(e["field"] for e in body["errors"]) == ["contact", "qty"]
    await state.check()


async def test_patch_cannot_change_id(admin: Api, gadget: Any, probe: Probe) -> None:
    row = await make(admin)
    state = await probe.unchanged("gadget")
    body = assert_problem(await admin.patch(f"/api/gadget/{row['id']}", {"id": str(uuid.uuid4())}), 422)
    assert [e["field"] for e in body["errors"]] == ["id"]
    await state.check()


async def test_user_cannot_change_owner(admin: Api, gadget: Any, probe: Probe) -> None:
    user = await admin.signup("mover@example.com")
    row = (await user.post("/api/gadget", {"title": "Mine"})).json()
    state = await probe.unchanged("gadget")
    response = await user.patch(f"/api/gadget/{row['id']}", {"owner_id": (await admin.me())["id"]})
    assert_problem(response, 403, "forbidden")
    await state.check()


async def test_patch_is_audited_with_before_and_after(admin: Api, gadget: Any, probe: Probe) -> None:
    row = await make(admin, qty=5)
    await admin.patch(f"/api/gadget/{row['id']}", {"qty": 6, "title": "T"})
    (entry,) = [e for e in await probe.rows("audit_log") if e["operation"] == "update"]
    assert entry["before"] == {"qty": 5} and entry["after"] == {"qty": 6}


async def test_delete_then_gone(admin: Api, gadget: Any, probe: Probe) -> None:
    row = await make(admin)
    other = await make(admin, title="Other")
    response = await admin.delete(f"/api/gadget/{row['id']}")
    assert response.status_code == 204 and response.content == b""
    assert_problem(await admin.get(f"/api/gadget/{row['id']}"), 404, "not-found")
    assert [str(r["id"]) for r in await probe.rows("gadget")] == [other["id"]]
    deletes = [e for e in await probe.rows("audit_log") if e["operation"] == "delete"]
    assert [str(e["row_id"]) for e in deletes] == [row["id"]]


async def test_delete_twice_is_not_found(admin: Api, gadget: Any, probe: Probe) -> None:
    row = await make(admin)
    assert (await admin.delete(f"/api/gadget/{row['id']}")).status_code == 204
    state = await probe.unchanged("gadget")
    assert_problem(await admin.delete(f"/api/gadget/{row['id']}"), 404, "not-found")
    assert_problem(await admin.delete("/api/gadget/not-a-uuid"), 404, "not-found")
    await state.check()


async def test_patch_after_delete_is_not_found(admin: Api, gadget: Any) -> None:
    row = await make(admin)
    await admin.delete(f"/api/gadget/{row['id']}")
    assert_problem(await admin.patch(f"/api/gadget/{row['id']}", {"qty": 1}), 404, "not-found")


async def test_writes_take_no_unknown_parameters(admin: Api, gadget: Any, probe: Probe) -> None:
    row = await make(admin)
    state = await probe.unchanged("gadget")
    url = f"/api/gadget/{row['id']}"
    for response in (
        await admin.post("/api/gadget", {"title": "New"}, params={"force": "1"}),
        await admin.patch(url, {"qty": 5}, params={"force": "1"}),
        await admin.delete(url, params={"force": "1"}),
        await admin.post("/api/gadget", {"title": "New"}, params={"dry_run": "true"}),
        await admin.post("/api/gadget", {"title": "New"}, params={"dry_run": "maybe"}),
    ):
        assert_problem(response, 400)
    await state.check()


async def test_write_with_unknown_include_writes_nothing(admin: Api, gadget: Any, probe: Probe) -> None:
    row = await make(admin)
    state = await probe.unchanged("gadget")
    created = await admin.post("/api/gadget", {"title": "New"}, params={"include": "nope"})
    assert_problem(created, 400, "invalid-include")
    patched = await admin.patch(f"/api/gadget/{row['id']}", {"qty": 5}, params={"include": "nope"})
    assert_problem(patched, 400, "invalid-include")
    await state.check()


async def test_user_cannot_touch_rows_of_others(admin: Api, gadget: Any, probe: Probe) -> None:
    row = await make(admin)
    user = await admin.signup("other@example.com")
    state = await probe.unchanged("gadget")
    assert_problem(await user.patch(f"/api/gadget/{row['id']}", {"qty": 2}), 404, "not-found")
    assert_problem(await user.delete(f"/api/gadget/{row['id']}"), 404, "not-found")
    await state.check()
