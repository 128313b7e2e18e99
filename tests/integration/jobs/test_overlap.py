"""While a run is still running, the overlap policy decides what the next fire does.

The task's action waits on a :class:`Gate` that the test opens, so "still running" is real: a
worker cycle is left running on the app's loop while the clock moves to the next slot and a
second worker fires it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stateyard.core.clock import FrozenClock
from stateyard.jobs.tasks import QUEUE_ONE_RECHECK_SECONDS
from tests.conftest import Api
from tests.integration.jobs.conftest import Gate, JobProbe, create_task, result_of


def minute(n: int) -> datetime:
    return datetime(2026, 1, 1, 0, n, tzinfo=UTC)


async def start_first_run(probe: JobProbe, gate: Gate, clock: FrozenClock):  # type: ignore[no-untyped-def]
    clock.set(minute(1))
    first = probe.work_in_background("w1")
    await gate.wait_entered()
    return first


def summary(runs: list[dict]) -> list[tuple[int, str]]:
    return [(r["scheduled_for"].minute, r["status"]) for r in runs]


async def test_skip_records_the_fire_as_skipped(admin: Api, probe: JobProbe, gate: Gate, clock: FrozenClock) -> None:
    await create_task(admin, action="wait", overlap="skip")
    first = await start_first_run(probe, gate, clock)
    clock.set(minute(2))
    assert await probe.work("w2") == 0
    runs = await probe.runs()
    assert summary(runs) == [(1, "running"), (2, "skipped")]
    assert runs[1]["error"] == "the previous run had not finished (overlap: skip)"
    assert runs[1]["job_id"] is None
    await gate.open()
    assert await result_of(first) == 1
    clock.set(minute(3))
    assert await probe.work("w2") == 1
    assert summary(await probe.runs()) == [(1, "succeeded"), (2, "skipped"), (3, "succeeded")]
    assert gate.calls == 2


async def test_allow_runs_alongside(admin: Api, probe: JobProbe, gate: Gate, clock: FrozenClock) -> None:
    await create_task(admin, action="wait", overlap="allow")
    first = await start_first_run(probe, gate, clock)
    clock.set(minute(2))
    second = probe.work_in_background("w2")
    await gate.wait_entered()
    assert summary(await probe.runs()) == [(1, "running"), (2, "running")]
    assert gate.most_inside == 2
    await gate.open()
    assert await result_of(first) == 1
    assert await result_of(second) == 1
    assert summary(await probe.runs()) == [(1, "succeeded"), (2, "succeeded")]


async def test_queue_one_keeps_one_run_waiting_and_skips_the_rest(
    admin: Api, probe: JobProbe, gate: Gate, clock: FrozenClock
) -> None:
    await create_task(admin, action="wait", overlap="queue_one")
    first = await start_first_run(probe, gate, clock)
    clock.set(minute(2))
    await probe.work("w2")  # the 00:02 run waits for the 00:01 one: its action must not start yet
    assert gate.most_inside == 1
    clock.set(minute(3))
    await probe.work("w3")
    runs = await probe.runs()
    assert summary(runs) == [(1, "running"), (2, "queued"), (3, "skipped")]
    assert runs[2]["error"] == "a run is already waiting (overlap: queue_one)"
    await gate.open()
    assert await result_of(first) == 1
    assert summary(await probe.runs()) == [(1, "succeeded"), (2, "queued"), (3, "skipped")]
    clock.advance(timedelta(seconds=QUEUE_ONE_RECHECK_SECONDS))  # the waiting run looks again
    assert await probe.work("w2") == 1
    assert summary(await probe.runs()) == [(1, "succeeded"), (2, "succeeded"), (3, "skipped")]
    waited = await probe.job((await probe.runs())[1]["job_id"])
    assert (waited["status"], waited["attempts"]) == ("succeeded", 1)  # waiting is not an attempt
    assert gate.most_inside == 1
    assert gate.calls == 2


async def test_a_finished_run_does_not_count_as_overlapping(admin: Api, probe: JobProbe, clock: FrozenClock) -> None:
    response = await admin.post("/api/entity", {"name": "ping", "columns": [{"name": "n", "type": "integer"}]})
    assert response.status_code == 201
    response = await admin.post(
        "/api/action",
        {"name": "beat", "entity": "ping", "outcomes": [{"type": "ping", "method": "create", "attributes": {"n": 1}}]},
    )
    assert response.status_code == 201
    await create_task(admin, overlap="skip")
    for n in range(1, 4):
        clock.set(minute(n))
        assert await probe.work() == 1
    assert summary(await probe.runs()) == [(1, "succeeded"), (2, "succeeded"), (3, "succeeded")]
