"""``engine.readywalk``: a workflow's READY tasks, found from its task dicts, are the tasks SpiffWorkflow's
own iterator finds, in its order (parallel branches, subprocesses, multi-instance, deep loops)."""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.util.subworkflow import BpmnBaseWorkflow
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from engine import readywalk

NS = (
    'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" '
    'id="defs" targetNamespace="http://kmop.test"'
)

BRANCHES = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions {NS}>
  <bpmn:process id="branches" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="split"/>
    <bpmn:parallelGateway id="split"/>
    <bpmn:sequenceFlow id="f2" sourceRef="split" targetRef="a"/>
    <bpmn:sequenceFlow id="f3" sourceRef="split" targetRef="sub"/>
    <bpmn:sequenceFlow id="f4" sourceRef="split" targetRef="each"/>
    <bpmn:sequenceFlow id="f5" sourceRef="split" targetRef="ask"/>
    <bpmn:scriptTask id="a"><bpmn:script>a = 1</bpmn:script></bpmn:scriptTask>
    <bpmn:subProcess id="sub">
      <bpmn:startEvent id="s_start"/>
      <bpmn:sequenceFlow id="s1" sourceRef="s_start" targetRef="s_split"/>
      <bpmn:parallelGateway id="s_split"/>
      <bpmn:sequenceFlow id="s2" sourceRef="s_split" targetRef="s_a"/>
      <bpmn:sequenceFlow id="s3" sourceRef="s_split" targetRef="s_b"/>
      <bpmn:scriptTask id="s_a"><bpmn:script>sa = 1</bpmn:script></bpmn:scriptTask>
      <bpmn:scriptTask id="s_b"><bpmn:script>sb = 1</bpmn:script></bpmn:scriptTask>
      <bpmn:sequenceFlow id="s4" sourceRef="s_a" targetRef="s_join"/>
      <bpmn:sequenceFlow id="s5" sourceRef="s_b" targetRef="s_join"/>
      <bpmn:parallelGateway id="s_join"/>
      <bpmn:sequenceFlow id="s6" sourceRef="s_join" targetRef="s_end"/>
      <bpmn:endEvent id="s_end"/>
    </bpmn:subProcess>
    <bpmn:scriptTask id="each">
      <bpmn:multiInstanceLoopCharacteristics>
        <bpmn:loopCardinality>3</bpmn:loopCardinality>
      </bpmn:multiInstanceLoopCharacteristics>
      <bpmn:script>m = 1</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:userTask id="ask"/>
    <bpmn:sequenceFlow id="f6" sourceRef="a" targetRef="join"/>
    <bpmn:sequenceFlow id="f7" sourceRef="sub" targetRef="join"/>
    <bpmn:sequenceFlow id="f8" sourceRef="each" targetRef="join"/>
    <bpmn:sequenceFlow id="f9" sourceRef="ask" targetRef="join"/>
    <bpmn:parallelGateway id="join"/>
    <bpmn:sequenceFlow id="f10" sourceRef="join" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""

LOOP = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions {NS}>
  <bpmn:process id="loop" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="count"/>
    <bpmn:scriptTask id="count"><bpmn:script>n = n + 1</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="count" targetRef="more"/>
    <bpmn:exclusiveGateway id="more" default="f4"/>
    <bpmn:sequenceFlow id="f3" sourceRef="more" targetRef="count">
      <bpmn:conditionExpression>n &lt; 200</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f4" sourceRef="more" targetRef="ask"/>
    <bpmn:userTask id="ask"/>
    <bpmn:sequenceFlow id="f5" sourceRef="ask" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


MANY = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions {NS}>
  <bpmn:process id="many" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="each"/>
    <bpmn:subProcess id="each">
      <bpmn:multiInstanceLoopCharacteristics>
        <bpmn:loopCardinality>1000</bpmn:loopCardinality>
      </bpmn:multiInstanceLoopCharacteristics>
      <bpmn:startEvent id="s_start"/>
      <bpmn:sequenceFlow id="s1" sourceRef="s_start" targetRef="ask"/>
      <bpmn:manualTask id="ask"/>
      <bpmn:sequenceFlow id="s2" sourceRef="ask" targetRef="s_end"/>
      <bpmn:endEvent id="s_end"/>
    </bpmn:subProcess>
    <bpmn:sequenceFlow id="f2" sourceRef="each" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def workflow(tmp_path: Any, text: str, key: str) -> BpmnWorkflow:
    path = tmp_path / f"{key}.bpmn"
    path.write_text(text)
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(path))
    return BpmnWorkflow(parser.get_spec(key), parser.get_subprocess_specs(key))


def iterators_answer(wf: Any) -> list[str]:
    return [str(t.id) for t in readywalk._ORIGINAL(wf, state=TaskState.READY)]


def ours(wf: Any) -> list[str]:
    return [str(t.id) for t in readywalk.ready_tasks(wf)]


def step_one_task_at_a_time(wf: BpmnWorkflow) -> int:
    """Run one READY task at a time (so that several are READY together), comparing both answers for the
    workflow and each subprocess at every step; the most READY tasks seen at once."""
    most = 0
    for _ in range(500):
        for each in (wf, *wf.subprocesses.values()):
            assert ours(each) == iterators_answer(each)
        ready = readywalk.ready_tasks(wf)
        most = max(most, len(ready))
        if not ready:
            return most
        engine_tasks = [t for t in ready if not t.task_spec.manual]
        (engine_tasks or ready)[0].run()  # a user task only when nothing else is ready
    raise AssertionError("the workflow did not end within 500 steps")


def test_parallel_branches_a_subprocess_and_a_multi_instance_come_in_the_iterators_order(
    tmp_path: Any,
) -> None:
    wf = workflow(tmp_path, BRANCHES, "branches")
    wf.data["n"] = 0
    most = step_one_task_at_a_time(wf)
    assert most >= 4  # several READY at once: the order was compared, not only the set
    assert wf.completed


def test_a_tree_deeper_than_the_bound_is_answered_by_the_iterator(tmp_path: Any) -> None:
    wf = workflow(tmp_path, LOOP, "loop")
    start = readywalk.ready_tasks(wf)[0]
    start.data["n"] = 0
    start.run()
    wf.do_engine_steps()  # 200 rounds of the loop: the user task sits far down the tree
    [ask] = readywalk.ready_tasks(wf)
    assert ask.task_spec.name == "ask"
    assert ask.depth > readywalk.MAX_DEPTH
    owner: dict[int, Any] = {}
    assert readywalk._path(ask, wf, owner, wf.subprocesses) is None  # so the iterator answered
    assert ours(wf) == iterators_answer(wf)


def test_a_workflow_with_nothing_ready_answers_an_empty_list(tmp_path: Any) -> None:
    wf = workflow(tmp_path, BRANCHES, "branches")
    for task in list(readywalk.ready_tasks(wf)):
        task.run()
    wf.do_engine_steps()
    [ask] = readywalk.ready_tasks(wf)  # only the user task waits
    ask.run()
    wf.do_engine_steps()
    assert wf.completed
    assert ours(wf) == iterators_answer(wf) == []


def test_the_test_suite_compares_every_answer_with_the_iterator() -> None:
    # tests/conftest.py sets KMOP_CHECK_WALK before the engine is imported: every lookup of the suite
    # (and of the kmop processes it starts) is checked against SpiffWorkflow's iterator.
    assert BpmnBaseWorkflow.get_tasks is readywalk._checked_get_tasks


def test_a_benchmark_can_set_both_aside_for_the_raw_library_and_get_them_back() -> None:
    import copy

    import SpiffWorkflow.bpmn.specs.mixins.subworkflow_task as subworkflow_task

    from engine import datacopy

    installed = BpmnBaseWorkflow.get_tasks
    with readywalk.library_walk(), datacopy.library_copy():
        assert BpmnBaseWorkflow.get_tasks is readywalk._ORIGINAL
        assert subworkflow_task.deepcopy is copy.deepcopy  # type: ignore[attr-defined]
    assert BpmnBaseWorkflow.get_tasks is installed
    assert subworkflow_task.deepcopy is datacopy.data_copy  # type: ignore[attr-defined]


def test_a_thousand_items_are_all_found_where_the_iterators_depth_count_runs_past_its_bound(
    tmp_path: Any,
) -> None:
    # Each parallel item owns a subprocess and has no children; leaving each one, the library's iterator
    # keeps its depth count one too high, passes its bound of 1000 and misses the last items' tasks,
    # which are really 6 levels deep. kmop finds all of them (and the check mode accepts exactly that).
    wf = workflow(tmp_path, MANY, "many")
    wf.do_engine_steps()
    ready = readywalk.ready_tasks(wf)
    assert len(ready) == 1000
    assert {t.task_spec.name for t in ready} == {"ask"}
    theirs = iterators_answer(wf)
    assert len(theirs) < 1000  # SpiffWorkflow 3.2's own walk: when this fails, the library was fixed
    assert readywalk._in_order_within(theirs, ours(wf))
    assert readywalk._checked_get_tasks(wf, state=TaskState.READY) == ready  # accepted, not raised
