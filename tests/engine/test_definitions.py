"""Deployments: validated before anything is stored, versioned by content, parsed once per version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.api import Engine
from engine.errors import DeploymentError
from engine.specs import SourceFile

DATA = Path(__file__).parent / "data"
RACE = (DATA / "deadline_race.bpmn").read_text()

SERVICE_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d" targetNamespace="t">
  <bpmn:process id="svc" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>a</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="call" name="Bellen">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="{operator}" resultVariable="out">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="value" type="str" value="'x'"/>
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
      <bpmn:incoming>a</bpmn:incoming><bpmn:outgoing>b</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:endEvent id="e"><bpmn:incoming>b</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="a" sourceRef="s" targetRef="call"/>
    <bpmn:sequenceFlow id="b" sourceRef="call" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>"""


def _deploy(engine: Engine, *files: tuple[str, str]) -> Any:
    with engine.transaction() as session:
        return engine.deploy_sources(session, [SourceFile(n, c) for n, c in files])


def _refused(engine: Engine, *files: tuple[str, str]) -> DeploymentError:
    with pytest.raises(DeploymentError) as info:
        _deploy(engine, *files)
    with engine.transaction() as session:
        assert engine.processes(session) == [], "a refused deployment must store nothing"
    return info.value


def test_same_content_is_a_no_op_and_a_change_is_a_new_version(engine: Engine) -> None:
    first = _deploy(engine, ("race.bpmn", RACE))
    assert first.created == [{"process_key": "deadline_race", "version": 1}]
    again = _deploy(engine, ("race.bpmn", RACE))
    assert again.created == [] and again.deployment_id is None
    changed = _deploy(engine, ("race.bpmn", RACE.replace('"P6W"', '"P5W"')))
    assert changed.created == [{"process_key": "deadline_race", "version": 2}]
    with engine.transaction() as session:
        assert [(p.process_key, p.version) for p in engine.processes(session)] == [
            ("deadline_race", 1),
            ("deadline_race", 2),
        ]


def test_running_instance_stays_on_its_version(engine: Engine) -> None:
    _deploy(engine, ("race.bpmn", RACE))
    with engine.transaction() as session:
        old = engine.start(session, "deadline_race", business_key="A")
    _deploy(engine, ("race.bpmn", RACE.replace("Dossier nakijken", "Dossier grondig nakijken")))
    with engine.transaction() as session:
        new = engine.start(session, "deadline_race", business_key="B")
        names = {t.instance_id: t.name for t in engine.tasks(session)}
    assert (old.version, new.version) == (1, 2)
    assert names == {old.id: "Dossier nakijken", new.id: "Dossier grondig nakijken"}
    with engine.transaction() as session:
        task = engine.tasks(session, instance_id=old.id)[0]
        engine.complete(session, task.id, {})
        assert engine.show(session, old.id).version == 1


def test_spec_is_parsed_once_per_version(engine: Engine) -> None:
    _deploy(engine, ("race.bpmn", RACE))
    before = engine.runtime.specs.parses
    for n in range(5):
        with engine.transaction() as session:
            inst = engine.start(session, "deadline_race", business_key=f"K{n}")
            engine.complete(session, engine.tasks(session, instance_id=inst.id)[0].id, {})
    assert engine.runtime.specs.parses - before == 1


def test_unquoted_timer_is_refused_naming_file_and_element(engine: Engine) -> None:
    error = _refused(engine, ("race.bpmn", RACE.replace('"P6W"', "P6W")))
    assert any(
        p.file == "race.bpmn" and p.element == "report_late" and "not quoted" in p.message
        for p in error.problems
    ), error.problems


@pytest.mark.parametrize(
    "expression, fragment",
    [
        ('"P6X"', "not a valid ISO 8601"),
        ("2026-01-01", "not a valid expression"),
        ("42", "gives int"),
        ("__import__('os')", "refused"),
    ],
)
def test_bad_timer_expressions_are_refused(engine: Engine, expression: str, fragment: str) -> None:
    error = _refused(engine, ("race.bpmn", RACE.replace('"P10D"', expression)))
    messages = [p.message for p in error.problems if p.element == "review_deadline"]
    assert messages and fragment in messages[0], error.problems


def test_timer_reading_process_data_is_accepted(engine: Engine) -> None:
    result = _deploy(engine, ("race.bpmn", RACE.replace('"P6W"', "report_deadline")))
    assert result.created


def test_unregistered_service_operator_is_refused(engine: Engine) -> None:
    error = _refused(engine, ("svc.bpmn", SERVICE_BPMN.replace("{operator}", "send_fax")))
    assert [(p.file, p.element) for p in error.problems] == [("svc.bpmn", "call")]
    assert "send_fax" in error.problems[0].message and "not registered" in error.problems[0].message
    ok = _deploy(engine, ("svc.bpmn", SERVICE_BPMN.replace("{operator}", "echo")))
    assert ok.created == [{"process_key": "svc", "version": 1}]


def test_every_problem_is_named_and_nothing_is_stored(engine: Engine) -> None:
    no_start = RACE.replace(
        '<bpmn:startEvent id="start" name="Aanvraag ontvangen">', '<bpmn:task id="start">'
    )
    no_start = no_start.replace("</bpmn:startEvent>", "</bpmn:task>")
    error = _refused(
        engine,
        ("ok.bpmn", RACE),
        ("broken.bpmn", "<bpmn:definitions"),
        ("nostart.bpmn", no_start.replace("deadline_race", "other")),
        ("form.json", "{not json"),
    )
    files = {p.file for p in error.problems}
    assert {"broken.bpmn", "form.json"} <= files
    assert "deployment refused" in error.message and "broken.bpmn" in error.message


def test_missing_call_activity_target_is_refused(engine: Engine) -> None:
    caller = RACE.replace(
        '<bpmn:scriptTask id="escalate" name="Escaleren">',
        '<bpmn:callActivity id="escalate" name="Escaleren" calledElement="escalation_procedure">',
    ).replace("<bpmn:script>escalated = True</bpmn:script>\n    </bpmn:scriptTask>", "</bpmn:callActivity>")
    error = _refused(engine, ("race.bpmn", caller))
    assert any("escalation_procedure" in p.message for p in error.problems), error.problems


def test_missing_form_file_is_refused_and_deploys_with_it(engine: Engine) -> None:
    with_form = RACE.replace(
        '<bpmn:userTask id="review" name="Dossier nakijken">',
        '<bpmn:userTask id="review" name="Dossier nakijken"><bpmn:extensionElements>'
        "<spiffworkflow:properties>"
        '<spiffworkflow:property name="formJsonSchemaFilename" value="review.json"/>'
        "</spiffworkflow:properties></bpmn:extensionElements>",
    )
    error = _refused(engine, ("race.bpmn", with_form))
    assert any(p.element == "review" and "review.json" in p.message for p in error.problems)
    form = '{"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}'
    assert _deploy(engine, ("race.bpmn", with_form), ("review.json", form)).created


def test_a_refused_start_does_not_spoil_later_starts(engine: Engine) -> None:
    """The cached version row must survive a rolled-back transaction (a refused application)."""
    _deploy(engine, ("race.bpmn", RACE))
    with pytest.raises(RuntimeError), engine.transaction() as session:
        engine.start(session, "deadline_race", business_key="X-1")
        raise RuntimeError("the caller's transaction fails after the start")
    with engine.transaction() as session:
        assert engine.start(session, "deadline_race", business_key="X-2").version == 1


def test_one_open_case_per_process_and_business_key(engine: Engine) -> None:
    from sqlalchemy import insert

    from engine.errors import Conflict
    from engine.models import ProcessInstance

    _deploy(engine, ("race.bpmn", RACE))
    with engine.transaction() as session:
        first = engine.start(session, "deadline_race", business_key="K-1")
    with pytest.raises(Conflict, match="already has the business key 'K-1'"), engine.transaction() as session:
        engine.start(session, "deadline_race", business_key="K-1")
    # The database itself refuses a second open case with the key (a racing start that passed the check).
    with pytest.raises(Exception, match="(?i)unique"), engine.transaction() as session:
        row = session.get(ProcessInstance, first.id)
        assert row is not None
        values = {c.name: getattr(row, c.name) for c in ProcessInstance.__table__.columns if c.name != "id"}
        session.execute(insert(ProcessInstance).values(**values))
    with engine.transaction() as session:
        engine.cancel(session, first.id)
    with engine.transaction() as session:  # an ended case no longer holds its key
        assert engine.start(session, "deadline_race", business_key="K-1").id != first.id
        assert engine.start(session, "deadline_race", business_key=None).business_key is None
        assert engine.start(session, "deadline_race", business_key=None).business_key is None
