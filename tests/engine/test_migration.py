"""Migrating running cases to another version: the preview, the moves, the refusals, the timer rule.

The diagrams (tests/engine/data/migration): version 1 routes a case, by its ``path``, to a report it waits
for with a 4-week reminder timer on it, to a user task ``check``, or to a user task ``old_step``. Version 2
has a 3-week reminder, renames ``check`` and no longer has ``old_step``.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from engine import clock
from engine.api import Engine
from engine.migration import MigrationRefused
from engine.models import (
    DefinitionAudit,
    HistoryEntry,
    InstanceTaskState,
    ProcessInstance,
    UserTask,
    WakeUp,
)
from tests.conftest import DATA, make_engine
from tests.kmop_cli import Kmop

V1, V2 = DATA / "migration" / "v1.bpmn", DATA / "migration" / "v2.bpmn"


def _sim(engine: Engine) -> clock.SimulatedClock:
    assert isinstance(engine.clock, clock.SimulatedClock)
    return engine.clock


def _start_cases(engine: Engine, *paths: str) -> dict[str, int]:
    with engine.transaction() as session:
        engine.deploy(session, [V1])
    ids = {}
    with engine.transaction() as session:
        for path in paths:
            ids[path] = engine.start(session, "migr", {"path": path}, business_key=f"K-{path}").id
    return ids


def _deploy_v2_a_week_later(engine: Engine) -> datetime:
    started = clock.now()
    _sim(engine).set(started + timedelta(weeks=1))
    with engine.transaction() as session:
        engine.deploy(session, [V2])
    return started


def _reminded(detail: Any) -> bool:
    """The reminder branch ran (its data ends with it: the case's data stays that of the report it awaits)."""
    return "remind" in [h.element_id for h in detail.history if h.event == "task_completed"]


def _stored(engine: Engine, instance_id: int) -> dict[str, Any]:
    with engine.transaction(write=False) as session:
        inst = session.get(ProcessInstance, instance_id)
        assert inst is not None
        return {
            "skeleton": inst.skeleton,
            "lock_version": inst.lock_version,
            "version_id": inst.process_version_id,
            "tasks": sorted(
                session.execute(
                    select(InstanceTaskState.task_id, InstanceTaskState.body).where(
                        InstanceTaskState.instance_id == instance_id
                    )
                ).all()
            ),
            "wake_ups": sorted(
                (w.task_id, w.due_at)
                for w in session.scalars(select(WakeUp).where(WakeUp.instance_id == instance_id))
            ),
            "history": len(
                session.scalars(select(HistoryEntry).where(HistoryEntry.instance_id == instance_id)).all()
            ),
        }


def test_the_preview_counts_cases_per_element_and_states_the_timer_rule(engine: Engine) -> None:
    ids = _start_cases(engine, "report", "check", "old")
    started = _deploy_v2_a_week_later(engine)
    with engine.transaction(write=False) as session:
        preview = engine.migration_preview(session, "migr", 1, 2)
    counts = {(e.element_id, e.kind): (e.waiting, e.movable, e.change) for e in preview.elements}
    assert counts[("report_late", "timer")] == (1, 1, "changed")
    assert counts[("check", "user_task")] == (1, 1, "changed")
    assert counts[("old_step", "user_task")] == (1, 0, "removed")
    assert [(t.element_id, t.old, t.new) for t in preview.timer_changes] == [
        ("report_late", '"P4W"', '"P3W"')
    ]
    by_id = {c.instance_id: c for c in preview.cases}
    report = by_id[ids["report"]]
    assert report.movable and [t.rule for t in report.timers] == ["recomputed"]
    assert report.timers[0].due_at == started + timedelta(weeks=4)
    assert report.timers[0].new_due_at == started + timedelta(weeks=3)  # 2 weeks from "now"
    old = by_id[ids["old"]]
    assert not old.movable and [(r.code, r.element_name) for r in old.refusals] == [("removed", "Oude stap")]
    assert sorted(preview.movable) == sorted([ids["report"], ids["check"]])
    with engine.transaction(write=False) as session:  # the preview changed nothing
        assert {i.process_version_id for i in session.scalars(select(ProcessInstance))} == {1}


def test_a_migrated_timer_fires_at_three_weeks_under_the_new_definition(engine: Engine) -> None:
    ids = _start_cases(engine, "report")
    started = _deploy_v2_a_week_later(engine)
    with engine.transaction() as session:
        moved = engine.migrate_instance(session, ids["report"], 2, actor="ana")
    assert (moved.from_version, moved.to_version) == (1, 2)
    with engine.transaction(write=False) as session:
        due = session.scalars(select(WakeUp.due_at).where(WakeUp.instance_id == ids["report"])).all()
    assert due == [started + timedelta(weeks=3)]

    engine.advance_clock(started + timedelta(weeks=3) - timedelta(seconds=1))
    with engine.transaction(write=False) as session:
        detail = engine.show(session, ids["report"])
    assert detail.version == 2 and "timer_fired" not in [h.event for h in detail.history]
    engine.advance_clock(started + timedelta(weeks=3, seconds=1))
    with engine.transaction(write=False) as session:
        detail = engine.show(session, ids["report"])
    fired = [h for h in detail.history if h.event == "timer_fired"]
    assert len(fired) == 1 and fired[0].detail["due_at"] == (started + timedelta(weeks=3)).isoformat()
    assert _reminded(detail)
    migrated = [h for h in detail.history if h.event == "migrated"]
    assert migrated[0].detail["message"] == "migrated from version 1 to 2" and migrated[0].actor == "ana"
    with engine.transaction() as session:  # the report still arrives after the reminder, on version 2
        engine.message(session, "report", "K-report", {}, None, actor="test")
        assert engine.show(session, ids["report"]).ready_tasks[0].name == "Rapport beoordelen"


def test_a_recomputed_moment_that_has_passed_fires_at_the_migration(engine: Engine) -> None:
    ids = _start_cases(engine, "report")
    started = clock.now()
    _sim(engine).set(started + timedelta(weeks=3, days=2))  # nothing fired: the P4W is not due yet
    with engine.transaction() as session:
        engine.deploy(session, [V2])
    with engine.transaction() as session:
        engine.migrate_instance(session, ids["report"], 2, actor="ana")
        detail = engine.show(session, ids["report"])
    fired = [h for h in detail.history if h.event == "timer_fired"]
    assert len(fired) == 1 and fired[0].detail["due_at"] == (started + timedelta(weeks=3)).isoformat()
    assert _reminded(detail)


def test_a_case_waiting_at_a_removed_element_is_refused_and_left_untouched(engine: Engine) -> None:
    ids = _start_cases(engine, "old", "report")
    _deploy_v2_a_week_later(engine)
    before = _stored(engine, ids["old"])
    with pytest.raises(MigrationRefused) as refused, engine.transaction() as session:
        engine.migrate_instance(session, ids["old"], 2, actor="ana")
    assert "'Oude stap', which the new version no longer has" in refused.value.message
    assert [r.code for r in refused.value.refusals] == ["removed"]
    assert _stored(engine, ids["old"]) == before
    with engine.transaction() as session:  # and it still runs on version 1
        task = engine.tasks(session, instance_id=ids["old"])[0]
        assert engine.complete(session, task.id, {}).status == "completed"


def test_a_case_at_a_user_task_survives_the_migration_and_can_be_completed(engine: Engine) -> None:
    ids = _start_cases(engine, "check")
    _deploy_v2_a_week_later(engine)
    with engine.transaction(write=False) as session:
        task_before = engine.tasks(session, instance_id=ids["check"])[0]
    with engine.transaction() as session:
        engine.migrate_instance(session, ids["check"], 2, actor="ana")
    with engine.transaction() as session:
        tasks = engine.tasks(session, instance_id=ids["check"])
        assert [(t.id, t.name) for t in tasks] == [(task_before.id, "Controleren en afronden")]
        assert engine.complete(session, tasks[0].id, {"ok": True}).status == "completed"
    with engine.transaction(write=False) as session:
        assert session.get(UserTask, tasks[0].id).status == "completed"  # type: ignore[union-attr]


def test_the_bulk_moves_each_case_alone_and_keeps_one_audit_row(engine: Engine) -> None:
    ids = _start_cases(engine, "report", "check", "old")
    _deploy_v2_a_week_later(engine)
    report = engine.migrate_cases("migr", 1, 2, "Herinnering na 3 weken", actor="ana")
    assert sorted(m.instance_id for m in report.moved) == sorted([ids["report"], ids["check"]])
    assert [(r.instance_id, r.refusals[0].code) for r in report.refused] == [(ids["old"], "removed")]
    with engine.transaction(write=False) as session:
        audits = session.scalars(select(DefinitionAudit).where(DefinitionAudit.action == "migrate")).all()
        versions = {i.id: i.process_version_id for i in session.scalars(select(ProcessInstance))}
    assert len(audits) == 1 and audits[0].actor == "ana" and audits[0].reason == "Herinnering na 3 weken"
    detail = audits[0].detail
    assert (detail["from"], detail["to"], sorted(detail["moved"])) == (
        1,
        2,
        sorted(m.instance_id for m in report.moved),
    )
    assert list(detail["refused"]) == [str(ids["old"])]
    assert versions[ids["old"]] == 1 and versions[ids["check"]] == 2
    again = engine.migrate_cases("migr", 1, 2, "nog eens", actor="ana", instance_ids=[ids["check"]])
    assert [r.refusals[0].code for r in again.refused] == ["other_version"]


def test_bad_requests_are_refused(engine: Engine) -> None:
    _start_cases(engine, "check")
    _deploy_v2_a_week_later(engine)
    from engine.errors import InvalidInput, NotFound

    with pytest.raises(InvalidInput):
        engine.migrate_cases("migr", 1, 2, "  ", actor="ana")
    with pytest.raises(NotFound), engine.transaction(write=False) as session:
        engine.migration_preview(session, "migr", 1, 7)
    with pytest.raises(InvalidInput), engine.transaction(write=False) as session:
        engine.migration_preview(session, "migr", 2, 2)


def test_a_migrated_case_survives_a_restart(db_url: str, engine: Engine) -> None:
    ids = _start_cases(engine, "report", "check")
    started = _deploy_v2_a_week_later(engine)
    engine.migrate_cases("migr", 1, 2, "P3W", actor="ana")
    engine.close()
    fresh = make_engine(db_url, replay=True)  # a new process, and every step as in a new process
    try:
        fresh.advance_clock(started + timedelta(weeks=3, seconds=1))
        with fresh.transaction() as session:
            detail = fresh.show(session, ids["report"])
            assert detail.version == 2 and _reminded(detail)
            task = fresh.tasks(session, instance_id=ids["check"])[0]
        with fresh.transaction() as session:
            assert fresh.complete(session, task.id, {}).status == "completed"
    finally:
        fresh.close()


@pytest.mark.processes
def test_kmop_migrate_from_the_command_line(db_url: str, engine: Engine) -> None:
    kmop = Kmop(db_url)
    kmop.run("deploy", str(V1))
    started = kmop.now()
    report = kmop.json("start", "migr", "--data", '{"path": "report"}', "--business-key", "CLI-1")
    old = kmop.json("start", "migr", "--data", '{"path": "old"}', "--business-key", "CLI-2")
    kmop.run("clock", "advance", "P1W")
    kmop.run("deploy", str(V2))

    preview = kmop.json("migrate", "migr", "--from", "1", "--to", "2", "--dry-run")
    assert {c["instance_id"]: c["movable"] for c in preview["cases"]} == {
        report["id"]: True,
        old["id"]: False,
    }
    words = kmop.run("migrate", "migr", "--from", "1", "--to", "2", "--dry-run").stdout
    assert "recomputed from the moment the timer started" in words and "Oude stap" in words

    kmop.run("migrate", "migr", "--from", "1", "--to", "2", expect=1)  # no reason
    kmop.run("migrate", "migr", "--from", "1", "--to", "9", "--reason", "x", expect=4)
    done = kmop.json("migrate", "migr", "--from", "1", "--to", "2", "--reason", "P3W")
    assert [m["instance_id"] for m in done["moved"]] == [report["id"]]
    assert [r["instance_id"] for r in done["refused"]] == [old["id"]]

    kmop.run("clock", "advance", "P2W")  # three weeks after the start, and a second
    kmop.run("clock", "advance", "PT1S")
    shown = kmop.json("show", str(report["id"]))
    assert shown["version"] == 2
    assert "remind" in [h["element_id"] for h in shown["history"] if h["event"] == "task_completed"]
    fired = [h for h in shown["history"] if h["event"] == "timer_fired"]
    assert fired[0]["detail"]["due_at"] == (started + timedelta(weeks=3)).isoformat()
    assert json.loads(json.dumps(kmop.json("show", str(old["id"]))))["version"] == 1


def test_a_case_with_a_running_multi_instance_is_refused(engine: Engine) -> None:
    folder = DATA / "migration"
    with engine.transaction() as session:
        engine.deploy(session, [folder / "mi_v1.bpmn"])
    with engine.transaction() as session:
        instance_id = engine.start(session, "migr_mi", {"signers": ["an", "bo"]}).id
    with engine.transaction() as session:
        engine.deploy(session, [folder / "mi_v2.bpmn"])
    with engine.transaction(write=False) as session:
        preview = engine.migration_preview(session, "migr_mi", 1, 2)
    assert [(r.code, r.element_name) for r in preview.cases[0].refusals] == [
        ("multi_instance", "Ondertekenen")
    ]
    before = _stored(engine, instance_id)
    refused = pytest.raises(MigrationRefused, match="multi-instance is running at 'Ondertekenen'")
    with refused, engine.transaction() as session:
        engine.migrate_instance(session, instance_id, 2)
    assert _stored(engine, instance_id) == before


def test_a_timer_on_an_event_based_gateway_follows_the_rule_too(engine: Engine, tmp_path: Any) -> None:
    source = (DATA / "deadline_race.bpmn").read_text(encoding="utf-8")
    changed = tmp_path / "deadline_race.bpmn"
    changed.write_text(source.replace('"P6W"', '"P5W"'), encoding="utf-8")
    with engine.transaction() as session:
        engine.deploy(session, [DATA / "deadline_race.bpmn"])
    with engine.transaction() as session:
        instance_id = engine.start(session, "deadline_race", {"applicant": "Acme"}, business_key="G-1").id
        task = engine.tasks(session, instance_id=instance_id)[0]
    with engine.transaction() as session:
        engine.complete(session, task.id, {"remark": "ok"})  # on to the gateway: the report or 6 weeks
    waiting_since = clock.now()
    _sim(engine).set(waiting_since + timedelta(weeks=2))
    with engine.transaction() as session:
        engine.deploy(session, [changed])
    with engine.transaction() as session:
        moved = engine.migrate_instance(session, instance_id, 2)
        due = session.scalars(select(WakeUp.due_at).where(WakeUp.instance_id == instance_id)).all()
    assert [(t.rule, t.new_due_at) for t in moved.timers] == [
        ("recomputed", waiting_since + timedelta(weeks=5))
    ]
    assert due == [waiting_since + timedelta(weeks=5)]
    with engine.transaction() as session:  # the message side of the gateway still works after the move
        engine.message(session, "report_due", "G-1", {"score": "T"}, None, actor="test")
        assert engine.show(session, instance_id).version == 2
