"""Every step on a new engine: what SpiffWorkflow changes in a spec at run time survives a restart and never
reaches another instance (``engine.blueprint``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from engine.api import Engine
from engine.blueprint import Blueprint, SpecChangeError
from engine.config import PROJECT_ROOT
from engine.models import ProcessInstance
from engine.services import ServiceRegistry
from engine.views import InstanceDetail
from tests.conftest import make_engine


class Restarting:
    """A new ``Engine`` for every step, on one database: as if each step ran in its own process."""

    def __init__(self, url: str, registry: ServiceRegistry) -> None:
        self.url, self.registry = url, registry
        self.engines: list[Engine] = []

    def fresh(self) -> Engine:
        engine = make_engine(self.url, self.registry, replay=False)  # nothing kept between the steps
        self.engines.append(engine)
        return engine

    def start(self, key: str, data: dict[str, Any] | None = None, business_key: str = "R-1") -> int:
        engine = self.fresh()
        with engine.transaction() as session:
            return engine.start(session, key, data or {}, business_key=business_key).id

    def show(self, instance_id: int) -> InstanceDetail:
        engine = self.fresh()
        with engine.transaction() as session:
            return engine.show(session, instance_id)

    def complete(self, task_id: str, data: dict[str, Any] | None = None) -> None:
        engine = self.fresh()
        with engine.transaction() as session:
            engine.complete(session, task_id, data or {})

    def close(self) -> None:
        for engine in self.engines:
            engine.close()


@pytest.fixture
def restarting(
    db_url: str, registry: ServiceRegistry, engine: Engine, conformance: Path
) -> Iterator[Restarting]:
    with engine.transaction() as session:  # the fixture's engine migrated the database; deploy with it
        engine.deploy(session, [conformance / "event-subprocess.bpmn"])
        engine.deploy(session, [conformance / "parallel_multiinstance_cardinality.bpmn"])
    world = Restarting(db_url, registry)
    yield world
    world.close()


def test_parallel_multi_instance_merges_children_completed_in_other_processes(restarting: Restarting) -> None:
    # parallel_multiinstance_cardinality and event-subprocess both have process id "main": the MI one is
    # version 2 of "main"; start each version explicitly.
    engine = restarting.fresh()
    with engine.transaction() as session:
        instance = engine.start(session, "main", {}, business_key="MI-1", version=2).id
    tasks = restarting.show(instance).ready_tasks
    assert len(tasks) == 3
    for n, task in enumerate(tasks):
        restarting.complete(task.id, {"output_item": n})
    detail = restarting.show(instance)
    assert detail.status == "completed", detail.active_elements
    assert sorted(detail.data["output_data"]) == [0, 1, 2]


def test_event_subprocess_started_in_one_process_runs_on_in_the_next(restarting: Restarting) -> None:
    engine = restarting.fresh()
    with engine.transaction() as session:
        instance = engine.start(session, "main", {}, business_key="ES-1", version=1).id
    restarting.complete(restarting.show(instance).ready_tasks[0].id)  # set_data throws start_sub
    waiting = restarting.show(instance)
    assert [t.element_id for t in waiting.ready_tasks] == ["task"]
    assert waiting.incidents == [] and waiting.status == "waiting"
    restarting.complete(waiting.ready_tasks[0].id)
    done = restarting.show(instance)
    assert done.status == "completed"
    assert {"sub", "task", "Event_17xen75"} <= set(done.completed_elements)


def test_run_time_changes_of_one_instance_never_reach_another(engine: Engine, conformance: Path) -> None:
    """In one process: the first instance starts its event subprocess; one started later must not."""
    with engine.transaction() as session:
        engine.deploy(session, [conformance / "event-subprocess.bpmn"])
        first = engine.start(session, "main", {}, business_key="ONE").id
    with engine.transaction() as session:
        engine.complete(session, engine.tasks(session, instance_id=first)[0].id, {})
        second = engine.start(session, "main", {}, business_key="TWO").id
        detail = engine.show(session, second)
        stored = json.loads(session.get(ProcessInstance, second).skeleton)  # type: ignore[union-attr]
        first_stored = json.loads(session.get(ProcessInstance, first).skeleton)  # type: ignore[union-attr]
    assert [t.element_id for t in detail.ready_tasks] == ["set_data"]
    assert detail.active_elements == ["set_data"]
    assert "spec_changes" not in stored
    # what trigger_wf connected for the first instance: Start -> sub -> the end join
    assert first_stored["spec_changes"] == {
        "": {
            "Start": [[], ["StartEvent_1", "sub"]],
            "sub": [["Start"], ["main.EndJoin"]],
        }
    }


def _blueprint_of(files: list[Path], process: str) -> tuple[Blueprint, Any]:
    parser = SpiffBpmnParser()
    for f in files:
        root = etree.fromstring(f.read_bytes())
        (parser.add_dmn_xml if f.suffix == ".dmn" else parser.add_bpmn_xml)(root, f.name)
    spec = parser.get_spec(process)
    return Blueprint(spec, parser.get_subprocess_specs(process)), spec


def test_a_blueprint_hands_out_fresh_objects_and_keeps_none_of_its_own() -> None:
    files = [*sorted((PROJECT_ROOT / "bpmn").glob("*.bpmn")), *sorted((PROJECT_ROOT / "bpmn").glob("*.dmn"))]
    blueprint, parsed = _blueprint_of(files, "registration")
    one, one_subs = blueprint.instantiate()
    two, two_subs = blueprint.instantiate()
    assert one is not two and one is not parsed
    assert one.task_specs["sign_declaration"] is not two.task_specs["sign_declaration"]
    assert set(one_subs) == {"starter_follow_up", "conditional_follow_up", "renewal"}
    assert one_subs.loaded() == {}  # called processes are unpickled only when a run needs one
    assert one_subs["renewal"] is one_subs["renewal"] is not two_subs["renewal"]
    assert blueprint.changes(one, one_subs) == {}


def test_multi_instance_children_are_wired_to_their_parent_as_the_library_deserializer_does() -> None:
    files = [*sorted((PROJECT_ROOT / "bpmn").glob("*.bpmn")), *sorted((PROJECT_ROOT / "bpmn").glob("*.dmn"))]
    blueprint, parsed = _blueprint_of(files, "registration")
    spec, _ = blueprint.instantiate()
    child = spec.task_specs[spec.task_specs["sign_declaration"].task_spec]
    assert child.completed_event.is_connected(spec.task_specs["sign_declaration"].merge_child)
    parsed_child = parsed.task_specs[parsed.task_specs["sign_declaration"].task_spec]
    assert parsed_child.completed_event.n_subscribers() == 0  # the parser alone leaves it to run time


def test_stored_changes_are_applied_and_checked() -> None:
    files = [PROJECT_ROOT / "tests/engine/data/conformance/spiffworkflow/event-subprocess.bpmn"]
    blueprint, _ = _blueprint_of(files, "main")
    spec, subs = blueprint.instantiate()
    spec.start.connect(spec.task_specs["sub"])  # what trigger_wf does when start_sub is thrown
    changes = blueprint.changes(spec, subs)
    assert changes == {"": {"Start": [[], ["StartEvent_1", "sub"]], "sub": [["Start"], []]}}
    rebuilt, rebuilt_subs = blueprint.instantiate(changes)
    assert rebuilt.task_specs["sub"] in rebuilt.start.outputs
    blueprint.verify(spec, subs, changes)
    with pytest.raises(SpecChangeError, match="do not rebuild"):
        blueprint.verify(spec, subs, {})
    with pytest.raises(SpecChangeError, match="lacks"):
        blueprint.instantiate({"": {"no_such_task": [[], []]}})
