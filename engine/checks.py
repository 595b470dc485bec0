"""Check BPMN elements before a deployment is accepted: structure, ids, references, timers, services.

Each check returns the problems it finds (file, element, what is wrong) and never raises, so that one
deployment attempt names every problem at once.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from . import clock
from .errors import Problem, SandboxError
from .sandbox import evaluate_expression
from .services import ServiceRegistry

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
FORM_PROPERTIES = ("formJsonSchemaFilename", "form")
# An unquoted ISO duration (P6W, PT2H) parses as a Python name; dates and cycles cannot be names.
_ISO_LIKE = re.compile(r"P(?=[^_]*\d)[\dYMWDTHS]+", re.IGNORECASE)


def structure_problems(root: Any, name: str) -> list[Problem]:
    """Find what the library's parser lets through: nothing executable, unreachable nodes, empty calls."""
    problems: list[Problem] = []
    problems.extend(_id_clashes(root, name))
    processes = root.findall(f"{{{BPMN_NS}}}process")
    if processes and not any(p.get("isExecutable") == "true" for p in processes):
        ids = ", ".join(p.get("id", "?") for p in processes)
        problems.append(Problem(name, None, f"no executable process (isExecutable is not true for {ids})"))
    for proc in processes:
        targets = {f.get("targetRef") for f in proc.iter(f"{{{BPMN_NS}}}sequenceFlow")}
        for call in proc.iter(f"{{{BPMN_NS}}}callActivity"):
            if not call.get("calledElement"):
                problems.append(
                    Problem(name, call.get("id"), "call activity names no process (calledElement)")
                )
        for node in proc.iter(f"{{{BPMN_NS}}}intermediateCatchEvent"):
            is_link = node.find(f"{{{BPMN_NS}}}linkEventDefinition") is not None
            if node.get("id") not in targets and not is_link:
                problems.append(
                    Problem(
                        name,
                        node.get("id"),
                        "catch event has no incoming sequence flow and is not attached to an activity: "
                        "it can never be reached (a boundary event must be attached with attachedToRef)",
                    )
                )
    return problems


def _id_clashes(root: Any, name: str) -> list[Problem]:
    """BPMN elements need ids of their own: the library looks nodes up by id anywhere in the file, so an
    operator or parameter with a task's id makes it parse the wrong element."""
    elements: dict[str, str] = {}
    problems: list[Problem] = []
    others: list[tuple[str, str]] = []
    for node in root.iter():
        if not isinstance(node.tag, str) or node.get("id") is None:
            continue
        qname = etree.QName(node)
        if qname.namespace in (BPMN_NS, None) or qname.namespace.endswith("/DMN/20191111/MODEL/"):
            if node.get("id") in elements:
                problems.append(
                    Problem(name, node.get("id"), f"two elements share this id ({qname.localname})")
                )
            elements[node.get("id")] = qname.localname
        else:
            others.append((node.get("id"), qname.localname))
    for other_id, tag in others:
        if other_id in elements:
            problems.append(
                Problem(
                    name,
                    other_id,
                    f"a {tag} has the same id as the {elements[other_id]}: the engine would "
                    "read the wrong element; rename one of them",
                )
            )
    return problems


def dmn_definitions_ids(dmn_files: list[tuple[str, str]]) -> dict[str, str]:
    """DMN ``definitions`` ids by file name, from (name, content) pairs: a common mistake is to call
    those instead of a decision id."""
    ids: dict[str, str] = {}
    for name, content in dmn_files:
        try:
            root = etree.fromstring(content.encode("utf-8"))
        except etree.XMLSyntaxError:
            continue
        if root.get("id"):
            ids[root.get("id")] = name
    return ids


def unresolved_references(pid: str, parser: SpiffBpmnParser, dmn_ids: dict[str, str]) -> list[Problem]:
    """Name every call activity and business rule task of ``pid`` whose target is nowhere to be found."""
    pp = parser.process_parsers[pid]
    file = Path(pp.filename or "?").name
    problems: list[Problem] = []
    for call in pp.node.iter(f"{{{BPMN_NS}}}callActivity"):
        target = call.get("calledElement")
        if target and target not in parser.process_parsers:
            problems.append(
                Problem(
                    file,
                    call.get("id"),
                    f"calls process '{target}', which is not found: no deployment defines it",
                )
            )
    for rule in pp.node.iter(f"{{{BPMN_NS}}}businessRuleTask"):
        for child in rule.iter():
            if not (isinstance(child.tag, str) and child.tag.endswith("calledDecisionId") and child.text):
                continue
            decision = child.text.strip()
            if decision in parser.dmn_parsers:
                continue
            known = ", ".join(sorted(parser.dmn_parsers)) or "none"
            hint = (
                f"; '{decision}' is the id of the DMN definitions in {dmn_ids[decision]}, not of a decision"
                if decision in dmn_ids
                else ""
            )
            problems.append(
                Problem(
                    file,
                    rule.get("id"),
                    f"calls decision '{decision}', which no deployed DMN defines (decisions: {known}){hint}",
                )
            )
    return problems


def call_cycle(start: str, parser: SpiffBpmnParser) -> list[str] | None:
    def called(pid: str) -> list[str]:
        pp = parser.process_parsers.get(pid)
        if pp is None:
            return []
        return [c.get("calledElement") for c in pp.node.iter(f"{{{BPMN_NS}}}callActivity")]

    path: list[str] = []

    def visit(pid: str) -> list[str] | None:
        if pid in path:
            return [*path[path.index(pid) :], pid]
        path.append(pid)
        for nxt in called(pid):
            found = visit(nxt)
            if found:
                return found
        path.pop()
        return None

    return visit(start)


def check_task(task_spec: Any, file: str, registry: ServiceRegistry, forms: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    element = getattr(task_spec, "bpmn_id", None) or task_spec.name
    operator = getattr(task_spec, "operation_name", None)
    if operator is not None:
        op = registry.get(operator)
        if op is None:
            known = ", ".join(o.name for o in registry) or "none"
            problems.append(
                Problem(file, element, f"service operator '{operator}' is not registered (known: {known})")
            )
        elif not op.accepts_any():
            unknown = set(task_spec.operation_params) - set(op.parameters())
            if unknown:
                problems.append(
                    Problem(file, element, f"service '{operator}' takes no parameter(s) {sorted(unknown)}")
                )
    props = (getattr(task_spec, "extensions", None) or {}).get("properties", {}) or {}
    validator = props.get("validator")
    if validator and registry.validator(validator) is None:
        problems.append(Problem(file, element, f"start validator '{validator}' is not registered"))
    for key in FORM_PROPERTIES:
        form = props.get(key)
        if form and form not in forms:
            problems.append(
                Problem(file, element, f"form file '{form}' is not in this or any earlier deployment")
            )
    return problems


_TIMER_KINDS = {
    "timeDuration": DurationTimerEventDefinition,
    "timeDate": TimeDateEventDefinition,
    "timeCycle": CycleTimerEventDefinition,
}


def timer_problems(process_node: Any, file: str) -> list[Problem]:
    """Check every timer of a process where it is written, so the problem names the timer's own element."""
    problems: list[Problem] = []
    for definition in process_node.iter(f"{{{BPMN_NS}}}timerEventDefinition"):
        owner = definition.getparent()
        for child in definition:
            kind = _TIMER_KINDS.get(etree.QName(child).localname) if isinstance(child.tag, str) else None
            if kind is None:
                continue
            event = kind(owner.get("name") or owner.get("id"), (child.text or "").strip())
            message = check_timer_expression(event)
            if message:
                problems.append(Problem(file, owner.get("id"), message))
    return problems


def check_timer_expression(event: TimerEventDefinition) -> str | None:
    """Return what is wrong with a timer's expression, or None when it is fine (or depends on data)."""
    expression = event.expression
    if not expression:
        return "timer has no expression"
    try:
        value = evaluate_expression(expression, {}, {"now": clock.now})
    except NameError as exc:
        name = getattr(exc, "name", "") or ""
        if _ISO_LIKE.fullmatch(name):
            return (
                f'timer expression {expression} is not quoted: timer expressions are Python, write "{name}"'
            )
        return None  # refers to process data: checked when the timer starts
    except SyntaxError as exc:
        return f"timer expression {expression!r} is not a valid expression ({exc.msg}); quote ISO 8601 text"
    except SandboxError as exc:
        return f"timer expression {expression!r} is refused: {exc.message}"
    except Exception as exc:
        return f"timer expression {expression!r} cannot be evaluated: {type(exc).__name__}: {exc}"
    return check_timer_value(event, value)


def check_timer_value(event: TimerEventDefinition, value: object) -> str | None:
    """Check that an evaluated timer expression is a valid ISO 8601 date, duration or cycle."""
    if not isinstance(value, str):
        return f"timer expression {event.expression!r} gives {type(value).__name__}, not ISO 8601 text"
    try:
        if isinstance(event, DurationTimerEventDefinition):
            TimerEventDefinition.parse_iso_duration(value)
        elif isinstance(event, TimeDateEventDefinition):
            parsed = TimerEventDefinition.parse_time_or_duration(value)
            if isinstance(parsed, dict):
                raise ValueError("a duration where a date is expected")
        elif isinstance(event, CycleTimerEventDefinition):
            TimerEventDefinition.parse_iso_recurring_interval(value)
    except Exception:
        kind = type(event).__name__.replace("TimerEventDefinition", "").replace("EventDefinition", "")
        return f"timer value {value!r} is not a valid ISO 8601 {kind.lower() or 'timer'}"
    return None


TIMER_KINDS_BY_NAME = {
    "timeDuration": DurationTimerEventDefinition,
    "timeDate": TimeDateEventDefinition,
    "timeCycle": CycleTimerEventDefinition,
}


def timer_moment(kind: str, expression: str) -> tuple[str | None, datetime | None]:
    """(what is wrong, None) or (None, the first moment the timer fires when it starts now).

    A timer whose expression refers to process data cannot be computed before it runs: (None, None).
    """
    definition = TIMER_KINDS_BY_NAME.get(kind)
    if definition is None:
        return f"unknown timer kind {kind!r}: use timeDuration, timeDate or timeCycle", None
    event = definition("timer", expression.strip())
    message = check_timer_expression(event)
    if message:
        return message, None
    try:
        value = evaluate_expression(event.expression, {}, {"now": clock.now})
    except Exception:
        return None, None  # depends on the case's data
    start = clock.now()
    if isinstance(event, DurationTimerEventDefinition):
        return None, start + TimerEventDefinition.get_timedelta_from_start(
            TimerEventDefinition.parse_iso_duration(value), start
        )
    if isinstance(event, TimeDateEventDefinition):
        return None, TimerEventDefinition.get_datetime(value)
    _, first, interval = TimerEventDefinition.parse_iso_recurring_interval(value)
    return None, max(first, start) + interval
