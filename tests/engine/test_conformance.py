"""Conformance: SpiffWorkflow's own public test diagrams, deployed and driven through kmop's facade.

Nobody on this project wrote these diagrams (see ``shared/conformance/README.md``). Each is deployed the
way a user would, started with a business key, and driven like a user would: ready tasks completed with
the data the diagram's scripts and conditions need, awaited messages sent with the instance's business
key, the simulated clock moved past pending timers. Every run is bounded and fails with the instance's
state when it does not finish.

The call-activity files are inconsistent among themselves (``Level2`` defined twice, ``Level2b`` defined
nowhere, ``Level3`` calling itself, ``Level2c`` a DMN definitions id): kmop refuses them, naming each
problem, and ``call_activity_nested`` therefore cannot run to the end.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.api import Engine
from engine.errors import DeploymentError, KmopError, Problem
from engine.services import ServiceContext, ServiceRegistry
from engine.views import DeployView, HistoryView, InstanceDetail, TaskView
from tasks.registry import default_registry
from tests.conftest import SHARED, VENDORED, make_engine

# ---------------------------------------------------------------------------------- the diagrams

MUST_DEPLOY: dict[str, tuple[tuple[str, ...], list[str]]] = {
    # test id: (files deployed together, process keys they create)
    "Message-Interrupts": (("Message-Interrupts.bpmn20.xml",), ["sid-db1e1749-03ee-46aa-8674-bba07b1bd167"]),
    "Messages": (("Messages.bpmn20.xml",), ["sid-4a1f10ab-316f-4cd8-836d-65aa3d178fff"]),
    "Timer-Intermediate": (("Timer-Intermediate.bpmn20.xml",), ["sid-909dfba4-15dd-47b3-b7d4-88330891429a"]),
    "boundary_timer_on_task": (("boundary_timer_on_task.bpmn",), ["test_timer"]),
    "business_rule_task": (("business_rule_task.bpmn", "business_rules.dmn"), ["Process_bd2e724"]),
    "correlation": (("correlation.bpmn",), ["proc_1", "proc_2"]),
    "event-gateway": (("event-gateway.bpmn",), ["Process_0pvx19v"]),
    "event-subprocess": (("event-subprocess.bpmn",), ["main"]),
    "human_task_metadata": (("human_task_metadata.bpmn",), ["Process_human_task_metadata"]),
    "inclusive_gateway": (("inclusive_gateway.bpmn",), ["main"]),
    "parallel_multiinstance_cardinality": (("parallel_multiinstance_cardinality.bpmn",), ["main"]),
    "service_task": (("service_task.bpmn",), ["service_task_example1"]),
}
NESTED = "call_activity_nested.bpmn"
LEVEL_2 = "call_activity_level_2.bpmn"
LEVEL_2B = "call_activity_level_2b.bpmn"
LEVEL_3 = "call_activity_level_3.bpmn"
LEVEL_2C_DMN = "level2c.dmn"
CALL_ACTIVITY_SET = (NESTED, LEVEL_2, LEVEL_2B, LEVEL_3, LEVEL_2C_DMN)
INVALID = (
    "No-Start-Event.bpmn20.xml",
    "Subprocess-Not-Found.bpmn20.xml",
    "Disconnected-Boundary-Event.bpmn20.xml",
)

MAX_STEPS = 50
ANY = object()  # "any element" in an expected problem


# -------------------------------------------------------------------------------------- helpers


def _deploy(engine: Engine, folder: Path, *names: str) -> DeployView:
    with engine.transaction() as session:
        return engine.deploy(session, [folder / n for n in names])


def _refused(engine: Engine, folder: Path, *names: str) -> list[Problem]:
    """Deploy ``names``, expect a refusal, check that nothing was stored; return the problems."""
    with pytest.raises(DeploymentError) as info:
        _deploy(engine, folder, *names)
    with engine.transaction() as session:
        assert engine.processes(session) == [], "a refused deployment must store nothing"
    return info.value.problems


def _problem_named(
    problems: Sequence[Problem], files: str | Collection[str], element: Any, *fragments: str
) -> None:
    files = {files} if isinstance(files, str) else set(files)
    for p in problems:
        same_element = element is ANY or p.element == element
        if p.file in files and same_element and all(f in p.message for f in fragments):
            return
    listing = "\n".join(f"  - {p.file} [{p.element}]: {p.message}" for p in problems)
    where = "/".join(sorted(files)) + ("" if element is ANY else f" [{element}]")
    pytest.fail(f"no problem names {where} with {list(fragments)}; the problems were:\n{listing}")


def _start(engine: Engine, key: str, data: dict[str, Any] | None = None, business_key: str = "CONF-1") -> int:
    with engine.transaction() as session:
        return engine.start(session, key, data or {}, business_key=business_key).id


def _show(engine: Engine, instance_id: int) -> InstanceDetail:
    with engine.transaction() as session:
        return engine.show(session, instance_id)


def _complete(engine: Engine, task_id: str, data: dict[str, Any] | None = None) -> None:
    with engine.transaction() as session:
        engine.complete(session, task_id, data or {}, actor="tester")


def _send(
    engine: Engine,
    name: str,
    key: str | None,
    payload: dict[str, Any] | None = None,
    message_id: str | None = None,
) -> str:
    with engine.transaction() as session:
        return engine.message(session, name, key, payload or {}, message_id).status


def _entries(detail: InstanceDetail, event: str, element: str | None = None) -> list[HistoryView]:
    return [h for h in detail.history if h.event == event and (element is None or h.element_id == element)]


def _describe(detail: InstanceDetail) -> str:
    lines = [
        f"instance {detail.id} ({detail.process_key} v{detail.version}, key {detail.business_key}): "
        f"status {detail.status}",
        f"  ready tasks: {[(t.element_id, t.name) for t in detail.ready_tasks]}",
        f"  timers: {[(t.element_id, t.kind, t.due_at.isoformat()) for t in detail.timers]}",
        f"  subscriptions: {[(s.element_id, s.message_name) for s in detail.subscriptions]}",
        f"  incidents: {[(i.element_id, i.message) for i in detail.incidents]}",
        f"  active: {detail.active_elements}",
        f"  data: {detail.data}",
        "  history (last 12):",
        *(f"    {h.event} {h.element_id} {h.detail}" for h in detail.history[-12:]),
    ]
    return "\n".join(lines)


TaskData = Callable[[TaskView, InstanceDetail], Mapping[str, Any]]


def drive(
    engine: Engine,
    instance_id: int,
    *,
    task_data: TaskData | None = None,
    messages: Collection[str] | None = None,
    payloads: Mapping[str, Mapping[str, Any]] | None = None,
    prefer: Sequence[str] = ("tasks", "messages", "timers"),
    max_steps: int = MAX_STEPS,
) -> InstanceDetail:
    """Drive an instance like a user until it completes; fail with its state when it does not.

    Each step does one thing, in the order of ``prefer``: complete the first ready user task (with
    ``task_data(task, detail)``), send the first awaited message the caller allows (``messages``: None
    allows any) with the instance's business key and ``payloads[name]``, or move the simulated clock
    just past the earliest pending timer or retry.
    """
    steps: list[str] = []
    for step in range(max_steps):
        detail = _show(engine, instance_id)
        if detail.status == "completed":
            return detail
        if detail.status not in ("waiting", "running"):
            pytest.fail(f"instance stopped being drivable after {steps}:\n{_describe(detail)}")
        acted = False
        for kind in prefer:
            if kind == "tasks" and detail.ready_tasks:
                task = detail.ready_tasks[0]
                data = dict(task_data(task, detail)) if task_data else {}
                _complete(engine, task.id, data)
                steps.append(f"complete {task.element_id} {data}")
            elif kind == "messages" and (
                subs := [s for s in detail.subscriptions if messages is None or s.message_name in messages]
            ):
                name = subs[0].message_name
                payload = dict((payloads or {}).get(name, {}))
                status = _send(engine, name, detail.business_key, payload, f"conf-{instance_id}-{step}")
                assert status == "delivered", f"message {name} was {status}:\n{_describe(detail)}"
                steps.append(f"message {name}")
            elif kind == "timers" and detail.timers:
                due = min(t.due_at for t in detail.timers)
                engine.advance_clock(max(due, engine.clock.now()) + timedelta(seconds=1))
                steps.append(f"clock past {due.isoformat()}")
            else:
                continue
            acted = True
            break
        if not acted:
            pytest.fail(f"nothing left to do after {steps}, yet not completed:\n{_describe(detail)}")
    pytest.fail(f"not completed after {max_steps} steps ({steps}):\n{_describe(_show(engine, instance_id))}")


def _stand_in_services(registry: ServiceRegistry, calls: list[tuple[str, dict[str, Any]]]) -> None:
    def get_pay_rate(ctx: ServiceContext, api_key: str, employee_id: int, subdomain: str) -> dict[str, Any]:
        """Stand-in for BambooHR's pay rate lookup."""
        calls.append(
            (
                "bamboohr/GetPayRate",
                {
                    "api_key": api_key,
                    "employee_id": employee_id,
                    "subdomain": subdomain,
                    "business_key": ctx.business_key,
                },
            )
        )
        return {"amount": "65000.00", "currency": "USD", "paidPer": "Year"}

    def current_temp(ctx: ServiceContext, zipcode: int) -> dict[str, Any]:
        """Stand-in for a weather service."""
        calls.append(("weather/CurrentTemp", {"zipcode": zipcode}))
        return {"zipcode": zipcode, "temperature_f": 71}

    registry.register("bamboohr/GetPayRate", get_pay_rate)
    registry.register("weather/CurrentTemp", current_temp)


# ---------------------------------------------------------------------------- 1. what must deploy


def test_the_copy_in_the_repository_matches_the_shared_diagrams() -> None:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is not beside this checkout; the copy in the repository is used")
    shared = {p.name: p.read_bytes() for p in SHARED.iterdir() if p.is_file()}
    vendored = {p.name: p.read_bytes() for p in VENDORED.iterdir() if p.is_file()}
    assert vendored == shared, f"refresh {VENDORED} from {SHARED}"


def test_every_conformance_file_is_accounted_for(conformance: Path) -> None:
    expected = {f for files, _ in MUST_DEPLOY.values() for f in files} | set(CALL_ACTIVITY_SET) | set(INVALID)
    present = {p.name for p in conformance.iterdir() if p.is_file()}
    assert present == expected, (
        f"new files: {sorted(present - expected)}; missing files: {sorted(expected - present)}"
    )


@pytest.mark.parametrize("case", list(MUST_DEPLOY), ids=list(MUST_DEPLOY))
def test_must_deploy(case: str, engine: Engine, registry: ServiceRegistry, conformance: Path) -> None:
    files, keys = MUST_DEPLOY[case]
    if case == "service_task":  # its operators are not kmop's: stand-ins under the diagram's names
        _stand_in_services(registry, [])
    view = _deploy(engine, conformance, *files)
    assert sorted(c["process_key"] for c in view.created) == sorted(keys)
    assert all(c["version"] == 1 for c in view.created)
    with engine.transaction() as session:
        stored = engine.processes(session)
    assert sorted(p.process_key for p in stored) == sorted(keys)
    assert all(set(files) <= set(p.files) for p in stored if len(keys) == 1), [p.files for p in stored]
    again = _deploy(engine, conformance, *files)
    assert again.created == [] and sorted(u["process_key"] for u in again.unchanged) == sorted(keys)


def test_call_activity_set_is_refused_naming_every_problem(engine: Engine, conformance: Path) -> None:
    problems = _refused(engine, conformance, *CALL_ACTIVITY_SET)
    _problem_named(problems, {LEVEL_2, LEVEL_2B}, "Level2", "Level2")  # defined by two files
    _problem_named(problems, NESTED, "Activity_0rkbhbz", "Level2b")  # called, defined nowhere
    _problem_named(problems, LEVEL_2, "Activity_1cmkdc8", "Level2b")
    _problem_named(problems, LEVEL_3, ANY, "Level3")  # calls itself unconditionally
    assert any(p.file == LEVEL_3 and p.element in ("Level3", "Activity_12zat0d") for p in problems)
    _problem_named(problems, NESTED, "Activity_0gg4414", "Level2c")  # a definitions id, not a decision


def test_call_activity_set_is_refused_and_nothing_is_stored(engine: Engine, conformance: Path) -> None:
    """What the engine does today with the whole set: refused on the duplicate process id, nothing stored."""
    problems = _refused(engine, conformance, *CALL_ACTIVITY_SET)
    _problem_named(problems, LEVEL_2B, "Level2", "Duplicate process ID", "Level2")
    view = _deploy(engine, conformance, LEVEL_2B)  # the refusal left nothing behind
    assert view.created == [{"process_key": "Level2", "version": 1}]


ExpectedProblem = tuple[str, Any, list[str]]  # file, element (or ANY), fragments of the message
CALL_ACTIVITY_SUBSETS: dict[str, tuple[tuple[str, ...], list[str] | None, list[ExpectedProblem]]] = {
    # id: (files, process keys created, or None when refused, expected problems (file, element, fragments))
    "level_2b_alone": ((LEVEL_2B,), ["Level2"], []),
    "level_2b_with_unused_dmn": ((LEVEL_2B, LEVEL_2C_DMN), ["Level2"], []),
    "dmn_alone_creates_no_process": ((LEVEL_2C_DMN,), [], []),
    "level_3_alone_calls_itself": ((LEVEL_3,), None, [(LEVEL_3, "Level3", ["loop", "Level3 -> Level3"])]),
    "level_2_alone_misses_level_3": ((LEVEL_2,), None, [(LEVEL_2, ANY, ["Level3", "not found"])]),
    "level_2_and_3": (
        (LEVEL_2, LEVEL_3),
        None,
        [(LEVEL_2, ANY, ["Level2b", "not found"]), (LEVEL_3, "Level3", ["Level3 -> Level3"])],
    ),
    "level_2_and_2b_both_define_level2": (
        (LEVEL_2, LEVEL_2B),
        None,
        [(LEVEL_2B, "Level2", ["Duplicate", "Level2"])],
    ),
    "nested_alone": ((NESTED,), None, [(NESTED, "Activity_0gg4414", ["Level2c"])]),
    "nested_with_dmn_level2c_is_no_decision": (
        (NESTED, LEVEL_2C_DMN),
        None,
        [(NESTED, "Activity_0gg4414", ["Level2c", "Decision_0vrtcmk"])],
    ),
    "nested_with_every_bpmn_but_2": (
        (NESTED, LEVEL_2B, LEVEL_3, LEVEL_2C_DMN),
        None,
        [(NESTED, "Activity_0gg4414", ["Level2c"]), (LEVEL_3, "Level3", ["Level3 -> Level3"])],
    ),
}


@pytest.mark.parametrize("case", list(CALL_ACTIVITY_SUBSETS), ids=list(CALL_ACTIVITY_SUBSETS))
def test_call_activity_subsets(case: str, engine: Engine, conformance: Path) -> None:
    """Which parts of the call-activity set deploy on their own, and why the others are refused.

    ``call_activity_nested.bpmn`` deploys in no combination (Level2b exists nowhere, Level2c is no
    decision), so it cannot be run; only ``call_activity_level_2b.bpmn`` (a trivial Level2) deploys.
    """
    files, created, expected = CALL_ACTIVITY_SUBSETS[case]
    if created is None:
        problems = _refused(engine, conformance, *files)
        for file, element, fragments in expected:
            _problem_named(problems, file, element, *fragments)
        return
    view = _deploy(engine, conformance, *files)
    assert sorted(c["process_key"] for c in view.created) == created
    if created == ["Level2"]:  # the one process that deploys also runs
        detail = drive(engine, _start(engine, "Level2"))
        assert "Activity_16ayqi8" in detail.completed_elements


def test_missing_called_process_names_the_call_activity(engine: Engine, conformance: Path) -> None:
    problems = _refused(engine, conformance, LEVEL_2)
    _problem_named(problems, LEVEL_2, "Activity_12zat0d", "Level3")


def test_decision_deployed_alone_serves_a_later_deployment(engine: Engine, conformance: Path) -> None:
    _deploy(engine, conformance, "business_rules.dmn")
    view = _deploy(engine, conformance, "business_rule_task.bpmn")
    assert view.created == [{"process_key": "Process_bd2e724", "version": 1}]
    assert _show(engine, _start(engine, "Process_bd2e724")).data["answer"] == "Y"


# ------------------------------------------------------------------------- 2. what must be refused

INVALID_PROBLEMS = {
    "No-Start-Event.bpmn20.xml": ("sid-669ddebf-4196-41ee-8b04-bcc90bc5f983", ["No start event"]),
    "Subprocess-Not-Found.bpmn20.xml": (
        "sid-617B0E1F-42DB-4D40-9B4C-ED631BF6E43A",
        ["call activity", "no process"],
    ),
    "Disconnected-Boundary-Event.bpmn20.xml": (
        "sid-84C7CE67-D0B6-486A-B097-486DA924FF9D",
        ["no incoming sequence flow", "not attached"],
    ),
}


@pytest.mark.parametrize("name", INVALID, ids=[n.split(".")[0] for n in INVALID])
def test_invalid_file_is_refused_naming_the_problem(name: str, engine: Engine, conformance: Path) -> None:
    element, fragments = INVALID_PROBLEMS[name]
    problems = _refused(engine, conformance, name)  # also checks that no process was stored
    _problem_named(problems, name, element, *fragments)
    assert all(p.file == name for p in problems)
    view = _deploy(engine, conformance, "human_task_metadata.bpmn")
    assert view.created == [{"process_key": "Process_human_task_metadata", "version": 1}]
    with engine.transaction() as session:
        assert [(p.process_key, p.version) for p in engine.processes(session)] == [
            ("Process_human_task_metadata", 1)
        ]


def test_invalid_file_spoils_a_deployment_with_valid_files(engine: Engine, conformance: Path) -> None:
    problems = _refused(engine, conformance, "Messages.bpmn20.xml", "No-Start-Event.bpmn20.xml")
    assert {p.file for p in problems} == {"No-Start-Event.bpmn20.xml"}
    view = _deploy(engine, conformance, "Messages.bpmn20.xml")
    assert view.created == [{"process_key": "sid-4a1f10ab-316f-4cd8-836d-65aa3d178fff", "version": 1}]


# ------------------------------------------------------------------------------ 3. run to the end


def test_timer_intermediate_waits_for_its_date_then_completes(engine: Engine, conformance: Path) -> None:
    key = _deploy(engine, conformance, "Timer-Intermediate.bpmn20.xml").created[0]["process_key"]
    due = engine.clock.now() + timedelta(days=3)
    instance = _start(engine, key, {"due_time": due.isoformat()})  # the timeDate expression reads due_time
    waiting = _show(engine, instance)
    assert waiting.status == "waiting"
    timer = "sid-AB1683F9-F260-499B-A04C-F7ADA9C64817"
    assert [(t.element_id, t.due_at) for t in waiting.timers] == [(timer, due)]

    engine.advance_clock(due - timedelta(minutes=1))
    assert _show(engine, instance).status == "waiting", "the timer fired before its date"

    detail = drive(engine, instance)
    assert len(_entries(detail, "timer_fired", timer)) == 1
    assert engine.clock.now() >= due
    assert detail.timers == [] and detail.ended_at is not None
    with engine.transaction() as session:
        assert engine.timers(session) == []


@pytest.mark.parametrize("timer_first", [True, False], ids=["timer_fires_first", "user_first"])
def test_boundary_timer_on_task(timer_first: bool, engine: Engine, conformance: Path) -> None:
    _deploy(engine, conformance, "boundary_timer_on_task.bpmn")
    instance = _start(engine, "test_timer")
    waiting = _show(engine, instance)
    assert [t.element_id for t in waiting.ready_tasks] == ["user_task"]
    assert [t.element_id for t in waiting.timers] == ["Event_0y4hbl0"]
    assert waiting.data["timer_called"] is False

    prefer = ("timers", "tasks") if timer_first else ("tasks", "timers")
    detail = drive(engine, instance, prefer=prefer)

    fired = _entries(detail, "timer_fired", "Event_0y4hbl0")
    side_path = _entries(detail, "task_completed", "set_variable")
    assert len(_entries(detail, "user_task_completed", "user_task")) == 1
    assert "final_end_event" in detail.completed_elements
    if timer_first:  # non-interrupting: the timer's path ran once and the task stayed with the user
        assert len(fired) == 1
        assert [h.detail["changed"] for h in side_path] == [{"timer_called": True}]
    else:  # completed in time: the timer never fires and its wake-up is gone
        assert fired == [] and side_path == []
    with engine.transaction() as session:
        assert engine.timers(session) == []


def test_messages_intermediate_catch(engine: Engine, conformance: Path) -> None:
    key = _deploy(engine, conformance, "Messages.bpmn20.xml").created[0]["process_key"]
    instance = _start(engine, key, business_key="ORDER-7")
    waiting = _show(engine, instance)
    subscriptions = [(s.message_name, s.correlation_key) for s in waiting.subscriptions]
    assert subscriptions == [("Test Message", "ORDER-7")]
    assert _send(engine, "Test Message", "ORDER-OTHER", {"note": "wrong key"}) == "buffered"
    assert _show(engine, instance).status == "waiting", "a message for another key must not be delivered"

    detail = drive(engine, instance, payloads={"Test Message": {"note": "hello"}})
    received = _entries(detail, "message_received", "sid-DF69AC93-16C3-405D-9FB1-9B2539519372")
    assert [h.detail["message"] for h in received] == ["Test Message"]
    assert detail.data["note"] == "hello"
    assert detail.subscriptions == []


@pytest.mark.parametrize("path", ["message_1", "message_2", "timer"])
def test_event_gateway_takes_exactly_one_path(path: str, engine: Engine, conformance: Path) -> None:
    _deploy(engine, conformance, "event-gateway.bpmn")
    instance = _start(engine, "Process_0pvx19v", business_key=f"GW-{path}")
    waiting = _show(engine, instance)
    assert sorted(s.message_name for s in waiting.subscriptions) == ["message_1", "message_2"]
    assert [t.element_id for t in waiting.timers] == ["Gateway_1434v9l"]

    allowed = () if path == "timer" else (path,)
    detail = drive(engine, instance, messages=allowed, payloads={path: {"via": path}})

    ends = {"message_1": "message_1_end", "message_2": "message_2_end", "timer": "timer"}
    assert [e for e in ends.values() if e in detail.completed_elements] == [ends[path]]
    fired = _entries(detail, "timer_fired")
    received = [h.detail["message"] for h in _entries(detail, "message_received")]
    if path == "timer":
        assert len(fired) == 1 and received == []
    else:
        assert fired == [] and received == [path] and detail.data["via"] == path
    with engine.transaction() as session:
        assert engine.timers(session) == []
    assert detail.subscriptions == []


def test_human_task_metadata(engine: Engine, conformance: Path) -> None:
    _deploy(engine, conformance, "human_task_metadata.bpmn")
    instance = _start(engine, "Process_human_task_metadata")
    waiting = _show(engine, instance)
    tasks = [(t.element_id, t.name) for t in waiting.ready_tasks]
    assert tasks == [("Activity_1gqykqt", "User Task with Metadata")]
    assert waiting.data["my_var"] == "dynamic_value"  # set by the script task before it

    detail = drive(engine, instance, task_data=lambda task, _: {"remark": "seen"})
    assert detail.data == {"my_var": "dynamic_value", "remark": "seen"}
    [done] = _entries(detail, "user_task_completed", "Activity_1gqykqt")
    assert done.actor == "tester" and done.detail["data"] == {"remark": "seen"}


# ------------------------------------------------------------------------- 4. the other diagrams


def test_service_task_names_unknown_operators_then_runs_with_stand_ins(
    engine: Engine, db_url: str, conformance: Path
) -> None:
    problems = _refused(engine, conformance, "service_task.bpmn")
    _problem_named(problems, "service_task.bpmn", "Activity-1inxqgx", "bamboohr/GetPayRate", "not registered")
    _problem_named(problems, "service_task.bpmn", "Activity_12erefa", "weather/CurrentTemp", "not registered")

    calls: list[tuple[str, dict[str, Any]]] = []
    registry = default_registry()
    _stand_in_services(registry, calls)
    fresh = make_engine(db_url, registry)
    try:
        view = _deploy(fresh, conformance, "service_task.bpmn")
        assert view.created == [{"process_key": "service_task_example1", "version": 1}]
        detail = drive(fresh, _start(fresh, "service_task_example1", business_key="EMP-4"))
    finally:
        fresh.close()
    assert calls == [
        (
            "bamboohr/GetPayRate",
            {
                "api_key": "secret:BAMBOOHR_API_KEY",
                "employee_id": 4,
                "subdomain": "ServiceTask",
                "business_key": "EMP-4",
            },
        ),
        ("weather/CurrentTemp", {"zipcode": 22980}),
    ]
    assert detail.data["waynesboroWeatherResult"] == {"zipcode": 22980, "temperature_f": 71}
    assert detail.data["spiff__Activity_1inxqgx_result"]["amount"] == "65000.00"  # no resultVariable given


def test_service_task_retry_settings_of_the_diagram(
    engine: Engine, registry: ServiceRegistry, conformance: Path
) -> None:
    """``<spiffworkflow:retry retries="3" backoff_base="2"/>``: three retries after the first attempt,
    2, 4 then 8 s apart, then an incident; a retry by hand after the service recovers completes it."""
    _stand_in_services(registry, [])
    attempts: list[tuple[int, Any]] = []
    healthy = {"now": False}

    def flaky_temp(ctx: ServiceContext, zipcode: int) -> dict[str, Any]:
        attempts.append((ctx.attempt, ctx.now))
        if not healthy["now"]:
            raise ConnectionError("weather service unreachable")
        return {"temperature_f": 70}

    registry.register("weather/CurrentTemp", flaky_temp)
    _deploy(engine, conformance, "service_task.bpmn")
    instance = _start(engine, "service_task_example1")
    for _ in range(MAX_STEPS):
        detail = _show(engine, instance)
        if not detail.timers:
            break
        assert [t.kind for t in detail.timers] == ["retry"]
        engine.advance_clock(detail.timers[0].due_at)
    assert detail.status == "error"
    [incident] = detail.incidents
    assert (incident.element_id, incident.error_type) == ("Activity_12erefa", "ConnectionError")
    assert incident.attempts == 4
    assert [a for a, _ in attempts] == [1, 2, 3, 4]
    gaps = [(b - a).total_seconds() for (_, a), (_, b) in zip(attempts, attempts[1:], strict=False)]
    assert gaps == [2.0, 4.0, 8.0]

    healthy["now"] = True
    with engine.transaction() as session:
        engine.retry(session, incident.id, actor="tester")
    done = _show(engine, instance)
    assert done.status == "completed" and done.data["waynesboroWeatherResult"] == {"temperature_f": 70}


def test_business_rule_task_decision_lands_in_data(engine: Engine, conformance: Path) -> None:
    view = _deploy(engine, conformance, "business_rule_task.bpmn", "business_rules.dmn")
    assert view.created == [{"process_key": "Process_bd2e724", "version": 1}]
    with engine.transaction() as session:
        [stored] = engine.processes(session)
    assert stored.files == ["business_rule_task.bpmn", "business_rules.dmn"]
    detail = drive(engine, _start(engine, "Process_bd2e724"))
    assert detail.data == {"question": "X", "answer": "Y"}  # rule "X" -> "Y" of decision_1


def test_history_records_tasks_run_while_starting(engine: Engine, conformance: Path) -> None:
    _deploy(engine, conformance, "business_rule_task.bpmn", "business_rules.dmn")
    detail = _show(engine, _start(engine, "Process_bd2e724"))
    script = _entries(detail, "task_completed", "Activity_10k4dgb")
    rule = _entries(detail, "task_completed", "Activity_0diq2z1")
    assert [h.detail["changed"] for h in script] == [{"question": "X"}]
    assert [h.detail["changed"] for h in rule] == [{"answer": "Y"}]


def test_parallel_multiinstance_cardinality(engine: Engine, conformance: Path) -> None:
    _deploy(engine, conformance, "parallel_multiinstance_cardinality.bpmn")
    instance = _start(engine, "main")
    waiting = _show(engine, instance)
    tasks = [(t.element_id, t.name) for t in waiting.ready_tasks]
    assert tasks == [("any_task", "Any Task")] * 3  # loopCardinality 3

    answers = iter(["first", "second", "third"])
    detail = drive(engine, instance, task_data=lambda task, _: {"output_item": next(answers)})
    assert sorted(detail.data["output_data"]) == ["first", "second", "third"]  # collected in completion order
    assert len(_entries(detail, "user_task_completed", "any_task")) == 3


def test_multiinstance_task_without_output_item_is_refused_clearly(engine: Engine, conformance: Path) -> None:
    _deploy(engine, conformance, "parallel_multiinstance_cardinality.bpmn")
    instance = _start(engine, "main")
    task = _show(engine, instance).ready_tasks[0]
    with pytest.raises(KmopError, match="output_item"):
        _complete(engine, task.id, {})
    _complete(engine, task.id, {"output_item": 1})  # the refusal changed nothing
    assert len(_show(engine, instance).ready_tasks) == 2


@pytest.mark.parametrize(
    ("data", "branches"),
    [
        ({"u": 1, "v": 0, "w": 1}, ["u_plus_v", "w_plus_v"]),
        ({"u": 1, "v": 0, "w": 0}, ["u_plus_v"]),
        ({"u": 0, "v": 0, "w": 5}, ["w_plus_v"]),
    ],
    ids=["u_and_w", "u_only", "w_only"],
)
def test_inclusive_gateway_takes_every_true_branch(
    data: dict[str, int], branches: list[str], engine: Engine, conformance: Path
) -> None:
    _deploy(engine, conformance, "inclusive_gateway.bpmn")
    instance = _start(engine, "main")
    assert [t.element_id for t in _show(engine, instance).ready_tasks] == ["set_data"]
    detail = drive(engine, instance, task_data=lambda task, _: data)
    ran = sorted(b for b in ("u_plus_v", "w_plus_v", "increment_v") if _entries(detail, "task_completed", b))
    assert ran == branches
    assert detail.data == data  # v is 0, so u += v and w += v change nothing


def test_inclusive_gateway_without_a_true_condition_opens_an_incident(
    engine: Engine, conformance: Path
) -> None:
    _deploy(engine, conformance, "inclusive_gateway.bpmn")
    instance = _start(engine, "main")
    task = _show(engine, instance).ready_tasks[0]
    _complete(engine, task.id, {"u": 0, "v": 0, "w": 0})  # default flow: v += 1, then "v == 0" fails
    detail = _show(engine, instance)
    assert detail.status == "error"
    [incident] = detail.incidents
    assert incident.element_id == "second" and "No conditions satisfied" in incident.message
    assert detail.data["v"] == 1
    assert _entries(detail, "task_completed", "increment_v")


def test_incident_history_is_in_the_order_things_happened(engine: Engine, conformance: Path) -> None:
    _deploy(engine, conformance, "inclusive_gateway.bpmn")
    instance = _start(engine, "main")
    _complete(engine, _show(engine, instance).ready_tasks[0].id, {"u": 0, "v": 0, "w": 0})
    events = [(h.event, h.element_id) for h in _show(engine, instance).history]
    assert events.index(("task_completed", "increment_v")) < events.index(("incident_opened", "second"))


def test_event_subprocess_started_by_a_signal(engine: Engine, conformance: Path) -> None:
    _deploy(engine, conformance, "event-subprocess.bpmn")
    instance = _start(engine, "main")
    assert [t.element_id for t in _show(engine, instance).ready_tasks] == ["set_data"]
    detail = drive(engine, instance)  # set_data throws start_sub, which starts the event subprocess
    assert [h.element_id for h in _entries(detail, "user_task_completed")] == ["set_data", "task"]
    assert {"Event_0rfrdxr", "sub"} <= set(detail.completed_elements)


def test_event_subprocess_waits_for_its_first_task(engine: Engine, conformance: Path) -> None:
    """Before its event subprocess starts, event-subprocess.bpmn waits at ``set data``."""
    _deploy(engine, conformance, "event-subprocess.bpmn")
    detail = _show(engine, _start(engine, "main"))
    assert detail.status == "waiting"
    assert [(t.element_id, t.name) for t in detail.ready_tasks] == [("set_data", "set data")]


def test_correlation_responder_process(engine: Engine, conformance: Path) -> None:
    """proc_2 starts on ``init_proc_2`` and answers with a message built from what it received."""
    view = _deploy(engine, conformance, "correlation.bpmn")
    assert sorted(c["process_key"] for c in view.created) == ["proc_1", "proc_2"]
    instance = _start(engine, "proc_2", business_key="REQ-1")
    waiting = _show(engine, instance)
    subscriptions = [(s.element_id, s.message_name) for s in waiting.subscriptions]
    assert subscriptions == [("message_start", "init_proc_2")]

    detail = drive(
        engine,
        instance,
        payloads={"init_proc_2": {"num": 7, "name": "seven"}},
        task_data=lambda task, _: {"response": "accepted"},  # "respond" throws {'response': response, ...}
    )
    assert detail.data["source_task"] == {"num": 7, "name": "seven"}  # the messageVariable
    assert [h.element_id for h in _entries(detail, "user_task_completed")] == ["prepare_response"]
    assert "respond" in detail.completed_elements


def test_correlation_initiator_waits_in_its_multiinstance_subprocess(
    engine: Engine, conformance: Path
) -> None:
    """proc_1 first waits in its multi-instance subprocess: two ``Configure Data`` tasks."""
    _deploy(engine, conformance, "correlation.bpmn")
    with engine.transaction() as session:
        summary = engine.start(session, "proc_1", {}, business_key="REQ-2")
        tasks = engine.tasks(session, instance_id=summary.id)
    assert summary.status == "waiting"
    assert [(t.element_id, t.name) for t in tasks] == [("configure", "Configure Data")] * 2


def test_correlation_initiator_runs_to_the_end(engine: Engine, conformance: Path) -> None:
    _deploy(engine, conformance, "correlation.bpmn")
    instance = _start(engine, "proc_1", business_key="REQ-3")
    numbers = iter([1, 2])

    def configure(task: TaskView, _: InstanceDetail) -> dict[str, Any]:
        n = next(numbers)
        return {"task_num": n, "task_name": f"item {n}"}  # read by the send task's payload

    detail = drive(
        engine,
        instance,
        task_data=configure,
        payloads={"proc_2_response": {"init_id": 1, "response": "accepted"}},
    )
    assert len(_entries(detail, "message_received", "get_response")) == 2


def test_correlation_send_task_reaches_the_waiting_responder(engine: Engine, conformance: Path) -> None:
    _deploy(engine, conformance, "correlation.bpmn")
    responder = _start(engine, "proc_2", business_key="REQ-4")
    initiator = _start(engine, "proc_1", business_key="REQ-4")
    for n in (1, 2):
        task = _show(engine, initiator).ready_tasks[0]
        _complete(engine, task.id, {"task_num": n, "task_name": f"item {n}"})
    detail = _show(engine, responder)
    assert [h.detail["message"] for h in _entries(detail, "message_received")] == ["init_proc_2"]
    assert detail.data["source_task"] == {"num": 1, "name": "item 1"}


@pytest.mark.parametrize("interrupt", [True, False], ids=["message_interrupts", "task_done_first"])
def test_message_interrupts_a_user_task(interrupt: bool, engine: Engine, conformance: Path) -> None:
    key = _deploy(engine, conformance, "Message-Interrupts.bpmn20.xml").created[0]["process_key"]
    instance = _start(engine, key, business_key="JOB-1")
    waiting = _show(engine, instance)
    long_task = "sid-6FBBB56D-00CD-4C2B-9345-486986BB4992"
    ack_task = "sid-D3365C47-2FAE-4D17-98F4-E68B345E18CE"
    assert [t.element_id for t in waiting.ready_tasks] == [long_task]
    assert [s.message_name for s in waiting.subscriptions] == ["Test Message"]

    prefer = ("messages", "tasks") if interrupt else ("tasks", "messages")
    detail = drive(engine, instance, prefer=prefer, payloads={"Test Message": {"reason": "stop"}})

    completed = [h.element_id for h in _entries(detail, "user_task_completed")]
    with engine.transaction() as session:
        cancelled = [t.element_id for t in engine.tasks(session, instance_id=instance, status="cancelled")]
    if interrupt:  # interrupting boundary event: the long task is withdrawn from the inbox
        assert completed == [ack_task] and cancelled == [long_task]
        assert detail.data["reason"] == "stop"
    else:
        assert completed == [long_task] and cancelled == []
        assert _entries(detail, "message_received") == []
    assert detail.subscriptions == []
