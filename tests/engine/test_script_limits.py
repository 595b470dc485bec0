"""Scripts end within their limits and leave only data that can be stored; a case is never stuck by one.

Each case waits a day on a timer, then runs one script: the worker's sweep runs it. A script that
overruns its time or memory, or leaves data that cannot be stored, becomes an incident on that script
task, the case keeps its data, and the worker goes on with other cases (and does not try it again).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest

from engine import clock
from engine.api import Engine
from engine.errors import SandboxError
from engine.sandbox import SandboxedEnvironment
from tests.conftest import make_engine

DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d_{key}"
                  targetNamespace="http://kmop.example/bpmn">
  <bpmn:process id="{key}" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:intermediateCatchEvent id="a_day_later">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDuration>"P1D"</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:scriptTask id="compute" name="Compute">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="a_day_later" />
    <bpmn:sequenceFlow id="f2" sourceRef="a_day_later" targetRef="compute" />
    <bpmn:sequenceFlow id="f3" sourceRef="compute" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""

# Each was found to freeze or exhaust an in-process sandbox: one C-level call that neither returns nor
# looks at the clock, or that allocates without bound.
RUNAWAY = {
    "modular_power": "e = 10**100000\nx = pow(3, e, e + 1)",
    "growing_while_mapped": "x = [0]\ny = list(map(x.append, x))",
    "format_width": "x = f'{1:>10000000000}'",
    "percent_width": "x = '%10000000000d' % 1",
    "huge_join": "x = ' '.join(['a' * 10**7] * 10**3)",
    "ljust": "x = 'a'.ljust(10**10)",
}
UNSTORABLE = {
    "contains_itself": "d = {}\nd['self'] = d",
    "nested_200000_deep": "x = []\nfor i in range(200000):\n    x = [x]",
    "bytes": "x = b'raw'",
}


def _diagram(tmp_path: Path, key: str, script: str) -> Path:
    path = tmp_path / f"{key}.bpmn"
    path.write_text(DIAGRAM.format(key=key, script=escape(script)))
    return path


def _start_waiting(engine: Engine, tmp_path: Path, key: str, script: str) -> int:
    with engine.transaction() as session:
        engine.deploy(session, [_diagram(tmp_path, key, script)])
        return engine.start(session, key, {"kept": "yes"}, business_key=key).id


@pytest.fixture
def quick(db_url: str) -> Any:
    engine = make_engine(db_url, script_timeout_seconds=0.5)
    yield engine
    engine.close()


@pytest.mark.parametrize("script", list(RUNAWAY.values()), ids=list(RUNAWAY))
def test_a_runaway_script_is_stopped_and_the_sweep_goes_on(
    quick: Engine, tmp_path: Path, script: str
) -> None:
    runaway = _start_waiting(quick, tmp_path, "runaway", script)
    plain = _start_waiting(quick, tmp_path, "plain", "x = 1")
    clock.active().set(clock.now() + timedelta(days=1))  # type: ignore[attr-defined]
    assert quick.fire_due() == 2  # both woken in one sweep: the runaway one held nothing up
    with quick.transaction() as session:
        stuck, done = quick.show(session, runaway), quick.show(session, plain)
    assert done.status == "completed" and done.data["x"] == 1
    assert stuck.status == "error" and stuck.data["kept"] == "yes"
    [incident] = stuck.incidents
    assert incident.element_id == "compute"
    assert "time limit" in incident.message or "memory limit" in incident.message, incident.message
    assert quick.fire_due() == 0, "nothing is tried again on the next sweep"


@pytest.mark.parametrize("script", list(UNSTORABLE.values()), ids=list(UNSTORABLE))
def test_data_that_cannot_be_stored_becomes_an_incident_and_the_case_keeps_its_data(
    engine: Engine, tmp_path: Path, script: str
) -> None:
    instance = _start_waiting(engine, tmp_path, "unstorable", script)
    clock.active().set(clock.now() + timedelta(days=1))  # type: ignore[attr-defined]
    assert engine.fire_due() == 1
    assert engine.fire_due() == 0, "the worker does not try it on every sweep"
    with engine.transaction() as session:
        detail = engine.show(session, instance)
    assert detail.status == "error" and detail.data["kept"] == "yes"
    [incident] = detail.incidents
    assert incident.element_id == "compute" and "cannot be stored" in incident.message
    assert [t.element_id for t in detail.timers] == []


def test_a_timer_expression_that_asks_for_millions_of_years_is_an_incident_not_a_hang(
    engine: Engine, tmp_path: Path
) -> None:
    diagram = _diagram(tmp_path, "forever", "x = 1").read_text()
    diagram = diagram.replace('"P1D"', '"P" + str(years) + "Y"')
    path = tmp_path / "forever.bpmn"
    path.write_text(diagram)
    with engine.transaction() as session:
        engine.deploy(session, [path])  # depends on the data: the deploy check cannot evaluate it
        summary = engine.start(session, "forever", {"years": 10**8}, business_key="F-1")
        detail = engine.show(session, summary.id)
    assert detail.status == "error"
    [incident] = detail.incidents
    assert incident.element_id == "a_day_later" and "1000 years" in incident.message


def test_a_script_host_killed_for_overrunning_is_replaced() -> None:
    environment = SandboxedEnvironment(timeout_seconds=0.3)
    with pytest.raises(SandboxError, match="time limit"):
        environment.execute("e = 10**100000\nx = pow(3, e, e + 1)", {})
    data: dict[str, Any] = {"a": 2}
    environment.execute("b = a * 21", data)
    assert data == {"a": 2, "b": 42}


def test_what_a_script_leaves_is_what_a_reload_finds() -> None:
    data: dict[str, Any] = {}
    SandboxedEnvironment().execute("pair = (1, 2)\nkeys = {'b', 'a'}\nby_number = {1: 'one'}", data)
    assert data == {"pair": [1, 2], "keys": ["a", "b"], "by_number": {"1": "one"}}


def test_plain_scripts_run_in_the_engine_and_the_others_in_a_host() -> None:
    from engine.sandbox import _is_plain_script

    assert _is_plain_script("audit_cost_estimate = audit_hours * 150\nroute = 'a' if starter else 'b'")
    assert _is_plain_script(
        "if starter:\n    route = 'starter'\nelif n > 2:\n    route = 'x'\nelse:\n    n += 1"
    )
    for other in (
        "for i in x:\n    y = i",
        "x = sum(y)",
        "x[0] = 1",
        "x = f'{a:>9}'",
        "x = '%5d' % n",
        "x = [a for a in b]",
    ):
        assert not _is_plain_script(other), other


def test_a_plain_script_that_builds_too_much_is_stopped_by_its_budget() -> None:
    with pytest.raises(SandboxError, match="what one run may build"):
        SandboxedEnvironment().execute("x = [0] * 10**7\ny = x + x", {})


def test_a_plain_script_whose_result_cannot_be_stored_leaves_the_data_as_it_was() -> None:
    deep: Any = "bottom"
    for _ in range(99):
        deep = [deep]
    data: dict[str, Any] = {"deep": deep, "n": 1}
    with pytest.raises(SandboxError, match="nests deeper than 100"):
        SandboxedEnvironment().execute("n = 2\ndeep = [[deep]]", data)
    assert data["n"] == 1 and data["deep"] is deep


def test_a_script_host_gets_only_the_variables_the_script_mentions(monkeypatch: pytest.MonkeyPatch) -> None:
    """The data crossing to a host does not grow with everything the case holds: a variable the script
    never mentions stays where it is (the very same object), one it deletes is gone, a new one comes last."""
    import engine.script_host as script_host

    sent: list[set[str]] = []
    real_run = script_host.ScriptHosts.run

    def run(self: Any, request: Any, timeout: float) -> Any:
        sent.append(set(script_host.decode(request)["context"]))
        return real_run(self, request, timeout)

    monkeypatch.setattr(script_host.ScriptHosts, "run", run)
    big = [{"number": i, "note": "x" * 200} for i in range(500)]
    data: dict[str, Any] = {"a": 7, "big": big, "gone": 1, "kept": "k"}
    SandboxedEnvironment().execute("label = 'case ' + str(a)\ndel gone\na = a + 1", data)
    assert sent == [{"a", "gone"}]
    assert data == {"a": 8, "big": big, "kept": "k", "label": "case 7"}
    assert data["big"] is big and list(data) == ["a", "big", "kept", "label"]
    assert script_host.mentioned_names("x = [i for i in items if i > n]") == {"x", "i", "items", "n"}
    assert script_host.mentioned_names("x = (") is None  # the host reports the syntax error, with all data


def test_a_failing_host_script_keeps_what_it_did_not_mention() -> None:
    big = list(range(1000))
    data: dict[str, Any] = {"a": 1, "big": big}
    with pytest.raises(ZeroDivisionError):
        SandboxedEnvironment().execute("b = str(a)\nc = 1 / 0", data)
    assert data["big"] is big and data["a"] == 1
