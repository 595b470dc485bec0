"""Due dates of user tasks: counted from the moment the task became ready, on kmop's clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from engine import clock
from engine.api import Engine
from engine.config import PROJECT_ROOT
from engine.views import TaskView

DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="Definitions_due_demo"
    targetNamespace="http://kmop.example/bpmn">
  <bpmn:process id="due_demo" name="Vervaldagen (test)" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="first" name="Eerste stap">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="due" value="P5D" />
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:intermediateCatchEvent id="a_day" name="Een dag wachten">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDuration>"P1D"</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:userTask id="after_timer" name="Stap na de timer">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="due" value="P3D" />
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="first" />
    <bpmn:sequenceFlow id="f2" sourceRef="first" targetRef="a_day" />
    <bpmn:sequenceFlow id="f3" sourceRef="a_day" targetRef="after_timer" />
    <bpmn:sequenceFlow id="f4" sourceRef="after_timer" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.fixture
def started(engine: Engine, tmp_path: Path) -> int:
    path = tmp_path / "due_demo.bpmn"
    path.write_text(DIAGRAM, encoding="utf-8")
    with engine.transaction() as session:
        engine.deploy(session, [path])
        return engine.start(session, "due_demo", {}).id


def _task(engine: Engine, instance_id: int, element: str) -> TaskView:
    with engine.transaction() as session:
        [task] = [t for t in engine.show(session, instance_id).ready_tasks if t.element_id == element]
    return task


def test_a_task_becomes_overdue_once_the_clock_passes_its_due_date(engine: Engine, started: int) -> None:
    began = clock.now()
    task = _task(engine, started, "first")
    assert task.due_at == began + timedelta(days=5) and not task.overdue
    engine.advance_clock(began + timedelta(days=5, minutes=-1))
    assert not _task(engine, started, "first").overdue
    engine.advance_clock(began + timedelta(days=5, minutes=1))
    task = _task(engine, started, "first")
    assert task.overdue and task.due_at == began + timedelta(days=5), "the due date stays where it was"


def test_a_task_set_off_by_a_timer_is_due_from_when_the_timer_fell_due(engine: Engine, started: int) -> None:
    """A worker that was down for ten days fires the one-day timer at its own moment when it wakes the case:
    the next task was ready from day 1 and due on day 4, so it is overdue at once (not due on day 13)."""
    began = clock.now()
    with engine.transaction() as session:
        engine.complete(session, _task(engine, started, "first").id, {})
    sim = engine.clock
    assert isinstance(sim, clock.SimulatedClock)
    sim.set(began + timedelta(days=10))  # jumped, not stepped: nothing fired on the way
    assert engine.fire_due() == 1
    task = _task(engine, started, "after_timer")
    assert task.due_at == began + timedelta(days=4)
    assert task.overdue


NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}


def _diagram_waits() -> list[tuple[str, str, Any]]:
    """(file, element, its due property or None) of every user and receive task in the shipped diagrams,
    with True as the due when a timer is attached to it."""
    found = []
    for path in sorted((PROJECT_ROOT / "bpmn").glob("*.bpmn")):
        root = etree.parse(str(path)).getroot()
        timed = {
            b.get("attachedToRef")
            for b in root.iterfind(".//bpmn:boundaryEvent", NS)
            if b.find("bpmn:timerEventDefinition", NS) is not None
        }
        for kind in ("userTask", "receiveTask"):
            for task in root.iterfind(f".//bpmn:{kind}", NS):
                dues = [
                    p.get("value")
                    for p in task.iterfind(".//spiffworkflow:property", NS)
                    if p.get("name") == "due"
                ]
                found.append(
                    (path.name, task.get("id"), dues[0] if dues else task.get("id") in timed or None)
                )
    return found


def test_every_user_task_and_every_wait_in_the_shipped_diagrams_has_a_due_date() -> None:
    waits = _diagram_waits()
    assert ("registration.bpmn", "check_declaration", "P5D") in waits
    missing = [(name, element) for name, element, due in waits if due is None]
    assert missing == [], "give each a due property (ISO 8601 duration) or a boundary timer"
    for name, element, due in waits:
        if isinstance(due, str):
            assert TimerEventDefinition.parse_iso_duration(due), f"{name} {element}: {due!r} is no duration"
