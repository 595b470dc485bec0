"""Deploy BPMN, DMN and form files: validate everything first, store by content hash, parse once per version.

A deployment is refused whole when any file has a problem; the error lists every problem with its file,
element and what is wrong, and nothing is stored. Each process key gets a new version only when the
files its spec is built from (its own file, the processes it calls, the decisions and forms it uses)
changed; deploying the same content again changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.event_definitions.simple import NoneEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tasks.registry import ServiceRegistry

from . import clock
from .errors import DeploymentError, NotFound, Problem, SandboxError
from .models import DefinitionFile, Deployment, ProcessVersion
from .sandbox import evaluate_expression

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
FORM_PROPERTIES = ("formJsonSchemaFilename", "form")
# An unquoted ISO duration (P6W, PT2H) parses as a Python name; dates and cycles cannot be names.
_ISO_LIKE = re.compile(r"P(?=[^_]*\d)[\dYMWDTHS]+", re.IGNORECASE)


@dataclass(frozen=True)
class SourceFile:
    name: str
    content: str

    @property
    def kind(self) -> str:
        lower = self.name.lower()
        if lower.endswith(".dmn"):
            return "dmn"
        if lower.endswith(".json"):
            return "form"
        return "bpmn"

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.content.encode("utf-8")).hexdigest()


@dataclass
class DeployResult:
    deployment_id: int | None
    created: list[tuple[str, int]] = field(default_factory=list)  # (process key, version)
    unchanged: list[tuple[str, int]] = field(default_factory=list)


def read_sources(paths: Iterable[str | Path]) -> list[SourceFile]:
    """Read files and directories (recursively: *.bpmn, *.bpmn20.xml, *.dmn, *.json)."""
    files: list[SourceFile] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = [p for p in sorted(path.rglob("*")) if p.is_file() and _is_definition(p)]
        elif path.is_file():
            found = [path]
        else:
            raise NotFound(f"no such file or directory: {path}")
        files.extend(SourceFile(p.name, p.read_text(encoding="utf-8")) for p in found)
    return files


def _is_definition(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith((".bpmn", ".bpmn20.xml", ".dmn", ".json"))


# --------------------------------------------------------------------------------------------- deploy


def deploy(
    session: Session, sources: list[SourceFile], registry: ServiceRegistry, actor: str | None = None
) -> DeployResult:
    """Validate ``sources`` and store what is new; raise ``DeploymentError`` naming every problem."""
    if not sources:
        raise DeploymentError(
            [Problem("(none)", None, "nothing to deploy: no BPMN, DMN or form files given")]
        )
    problems: list[Problem] = []
    names = [s.name for s in sources]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(Problem(dup, None, "two files with the same name in one deployment"))
    parsed = _parse_all(session, sources, problems)
    checked = _check_processes(parsed, sources, registry, problems)
    if problems:
        raise DeploymentError(problems)
    return _store(session, parsed, sources, checked, actor)


@dataclass
class _Parsed:
    parser: SpiffBpmnParser
    own_processes: list[str]
    extra_files: dict[str, DefinitionFile]  # stored files pulled in to resolve references
    forms: dict[str, SourceFile | DefinitionFile]


def _parse_all(session: Session, sources: list[SourceFile], problems: list[Problem]) -> _Parsed:
    parser = SpiffBpmnParser(validator=VALIDATOR)
    own: list[str] = []
    forms: dict[str, SourceFile | DefinitionFile] = {}
    for src in sources:
        if src.kind == "form":
            try:
                json.loads(src.content)
            except ValueError as exc:
                problems.append(Problem(src.name, None, f"form is not valid JSON: {exc}"))
            forms[src.name] = src
            continue
        try:
            root = etree.fromstring(src.content.encode("utf-8"))
        except etree.XMLSyntaxError as exc:
            problems.append(Problem(src.name, None, f"not well-formed XML: {exc}"))
            continue
        if src.kind == "bpmn":
            before = set(parser.process_parsers)
            if _add(parser.add_bpmn_xml, root, src.name, problems):
                new = [p for p in parser.process_parsers if p not in before]
                own.extend(new)
                problems.extend(_structure_problems(root, src.name))
        else:
            _add(parser.add_dmn_xml, root, src.name, problems)
    extra = _pull_in_references(session, parser, sources, forms, problems)
    return _Parsed(parser, own, extra, forms)


def _add(method: Any, root: Any, name: str, problems: list[Problem]) -> bool:
    try:
        method(root, name)
        return True
    except ValidationException as exc:
        problems.append(_problem_from(exc, name))
    except Exception as exc:  # the parser raises plain errors for some malformed content
        problems.append(Problem(name, None, f"{type(exc).__name__}: {exc}"))
    return False


def _problem_from(exc: ValidationException, default_file: str) -> Problem:
    file = Path(exc.file_name).name if getattr(exc, "file_name", None) else default_file
    element = getattr(exc, "id", None) or None
    message = str(getattr(exc, "error_msg", None) or exc).strip().rstrip(".")
    line = getattr(exc, "line_number", None)
    if line:
        message += f" (line {line})"
    return Problem(file, element, message)


def _structure_problems(root: Any, name: str) -> list[Problem]:
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


def _pull_in_references(
    session: Session,
    parser: SpiffBpmnParser,
    sources: list[SourceFile],
    forms: dict[str, SourceFile | DefinitionFile],
    problems: list[Problem],
) -> dict[str, DefinitionFile]:
    """Add the latest stored files that define processes or decisions this deployment refers to."""
    stored = session.scalars(select(DefinitionFile).order_by(DefinitionFile.id.desc())).all()
    own_names = {s.name for s in sources}
    extra: dict[str, DefinitionFile] = {}
    for _ in range(10):  # references may chain; each pass resolves one level
        wanted_processes, wanted_decisions = _references(parser)
        missing_p = wanted_processes - set(parser.process_parsers)
        missing_d = wanted_decisions - set(parser.dmn_parsers)
        added = False
        for f in stored:
            if f.name in own_names or f.name in extra:
                continue
            provides = set(f.provides.get("processes", [])) | set(f.provides.get("decisions", []))
            if provides & (missing_p | missing_d):
                root = etree.fromstring(f.content.encode("utf-8"))
                method = parser.add_dmn_xml if f.kind == "dmn" else parser.add_bpmn_xml
                if _add(method, root, f.name, problems):
                    extra[f.name] = f
                    added = True
                missing_p -= set(parser.process_parsers)
                missing_d -= set(parser.dmn_parsers)
        if not added:
            break
    for f in stored:
        if f.kind == "form" and f.name not in forms:
            forms[f.name] = f
    return extra


def _references(parser: SpiffBpmnParser) -> tuple[set[str], set[str]]:
    processes: set[str] = set()
    decisions: set[str] = set()
    for pp in parser.process_parsers.values():
        node = pp.node
        for call in node.iter(f"{{{BPMN_NS}}}callActivity"):
            if call.get("calledElement"):
                processes.add(call.get("calledElement"))
        for rule in node.iter(f"{{{BPMN_NS}}}businessRuleTask"):
            for child in rule.iter():
                if isinstance(child.tag, str) and child.tag.endswith("calledDecisionId") and child.text:
                    decisions.add(child.text.strip())
    return processes, decisions


# ------------------------------------------------------------------------------------ process checks


@dataclass
class _Checked:
    bundles: dict[str, list[str]]  # process key -> names of every file its spec needs
    names: dict[str, str | None]


def _check_processes(
    parsed: _Parsed, sources: list[SourceFile], registry: ServiceRegistry, problems: list[Problem]
) -> _Checked:
    parser = parsed.parser
    bundles: dict[str, list[str]] = {}
    names: dict[str, str | None] = {}
    executable = set(parser.get_process_ids())
    dmn_ids = _dmn_definitions_ids(sources)
    for pid in parsed.own_processes:
        if pid not in executable:
            continue
        pp = parser.process_parsers[pid]
        file = Path(pp.filename or "?").name
        cycle = _call_cycle(pid, parser)
        if cycle:
            problems.append(
                Problem(file, pid, f"call activities call each other in a loop: {' -> '.join(cycle)}")
            )
        unresolved = _unresolved_references(pid, parser, dmn_ids)
        problems.extend(unresolved)
        if unresolved or cycle:
            continue  # the library would stop at the first of these; each is named above
        try:
            spec = parser.get_spec(pid)
            subs = parser.get_subprocess_specs(pid)
        except ValidationException as exc:
            problems.append(_problem_from(exc, file))
            continue
        names[pid] = spec.description if spec.description != pid else None
        for owner, sp in [(pid, spec), *subs.items()]:
            owner_file = Path(parser.process_parsers[owner].filename or file).name
            for task_spec in sp.task_specs.values():
                problems.extend(_check_task(task_spec, owner_file, registry, parsed.forms))
        problems.extend(_timer_problems(pp.node, file))
        bundles[pid] = _bundle(pid, subs, parser, parsed.forms)
    return _Checked(bundles, names)


def _dmn_definitions_ids(sources: list[SourceFile]) -> dict[str, str]:
    """DMN ``definitions`` ids by file: a common mistake is to call those instead of a decision id."""
    ids: dict[str, str] = {}
    for src in sources:
        if src.kind == "dmn":
            try:
                root = etree.fromstring(src.content.encode("utf-8"))
            except etree.XMLSyntaxError:
                continue
            if root.get("id"):
                ids[root.get("id")] = src.name
    return ids


def _unresolved_references(pid: str, parser: SpiffBpmnParser, dmn_ids: dict[str, str]) -> list[Problem]:
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


def _call_cycle(start: str, parser: SpiffBpmnParser) -> list[str] | None:
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


def start_properties(spec: Any) -> dict[str, Any]:
    """The ``spiffworkflow:properties`` of a process's plain start event (start form, validator)."""
    for task_spec in spec.task_specs.values():
        if type(task_spec).__name__ == "StartEvent" and isinstance(
            task_spec.event_definition, NoneEventDefinition
        ):
            return dict((getattr(task_spec, "extensions", None) or {}).get("properties", {}) or {})
    return {}


def _check_task(task_spec: Any, file: str, registry: ServiceRegistry, forms: dict[str, Any]) -> list[Problem]:
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


def _timer_problems(process_node: Any, file: str) -> list[Problem]:
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


def _bundle(pid: str, subs: dict[str, Any], parser: SpiffBpmnParser, forms: dict[str, Any]) -> list[str]:
    files: set[str] = set()
    for owner in [pid, *subs]:
        pp = parser.process_parsers.get(owner)
        if pp is not None and pp.filename:
            files.add(Path(pp.filename).name)
    _, decisions = _references(parser)
    used = _decisions_used([pid, *subs], parser)
    for decision in used & decisions:
        dp = parser.dmn_parsers.get(decision)
        if dp is not None and dp.filename:
            files.add(Path(dp.filename).name)
    for spec in [parser.get_spec(pid), *subs.values()]:
        for ts in spec.task_specs.values():
            props = (getattr(ts, "extensions", None) or {}).get("properties", {}) or {}
            files.update(props[k] for k in FORM_PROPERTIES if props.get(k) in forms)
    return sorted(files)


def _decisions_used(pids: list[str], parser: SpiffBpmnParser) -> set[str]:
    used: set[str] = set()
    for pid in pids:
        pp = parser.process_parsers.get(pid)
        if pp is None:
            continue
        for child in pp.node.iter():
            if isinstance(child.tag, str) and child.tag.endswith("calledDecisionId") and child.text:
                used.add(child.text.strip())
    return used


# --------------------------------------------------------------------------------------------- store


def _store(
    session: Session, parsed: _Parsed, sources: list[SourceFile], checked: _Checked, actor: str | None
) -> DeployResult:
    now = clock.now()
    by_name: dict[str, tuple[str, str, str, dict[str, Any]]] = {}  # name -> (kind, hash, content, provides)
    for src in sources:
        by_name[src.name] = (src.kind, src.content_hash, src.content, _provides(src.name, parsed.parser))
    for name, f in parsed.extra_files.items():
        by_name[name] = (f.kind, f.content_hash, f.content, f.provides)
    for name, form in parsed.forms.items():
        if isinstance(form, DefinitionFile) and name not in by_name:
            by_name[name] = (form.kind, form.content_hash, form.content, form.provides)

    plans: list[tuple[str, str, list[str]]] = []
    result = DeployResult(None)
    for pid, files in checked.bundles.items():
        bundle_hash = hashlib.sha256(
            "\n".join(f"{n}:{by_name[n][1]}" for n in files).encode("utf-8")
        ).hexdigest()
        existing = session.scalar(
            select(ProcessVersion).where(
                ProcessVersion.process_key == pid, ProcessVersion.bundle_hash == bundle_hash
            )
        )
        if existing is not None:
            result.unchanged.append((pid, existing.version))
        else:
            plans.append((pid, bundle_hash, files))
    new_files = [s for s in sources if _stored_hash(session, s.content_hash) is None]
    if not plans and not new_files:
        return result

    deployment = Deployment(
        deployed_at=now,
        deployed_by=actor,
        summary={"files": sorted(by_name), "processes": [p for p, _, _ in plans]},
    )
    session.add(deployment)
    session.flush()
    file_ids: dict[str, int] = {}
    for name in sorted(by_name):
        kind, content_hash, content, provides = by_name[name]
        row = _stored_hash(session, content_hash)
        if row is None:
            row = DefinitionFile(
                name=name,
                kind=kind,
                content_hash=content_hash,
                content=content,
                provides=provides,
                deployment_id=deployment.id,
                created_at=now,
            )
            session.add(row)
            session.flush()
        file_ids[name] = row.id
    for pid, bundle_hash, files in plans:
        latest = session.scalar(
            select(func.max(ProcessVersion.version)).where(ProcessVersion.process_key == pid)
        )
        version = (latest or 0) + 1
        ids: dict[str, Any] = {"bpmn": [], "dmn": [], "form": []}
        for name in files:
            ids[by_name[name][0]].append(file_ids[name])
        session.add(
            ProcessVersion(
                process_key=pid,
                version=version,
                name=checked.names.get(pid),
                bundle_hash=bundle_hash,
                file_ids=ids,
                deployment_id=deployment.id,
                deployed_at=now,
            )
        )
        result.created.append((pid, version))
    session.flush()
    result.deployment_id = deployment.id
    return result


def _stored_hash(session: Session, content_hash: str) -> DefinitionFile | None:
    return session.scalar(select(DefinitionFile).where(DefinitionFile.content_hash == content_hash))


def _provides(name: str, parser: SpiffBpmnParser) -> dict[str, Any]:
    processes = [
        pid for pid, pp in parser.process_parsers.items() if pp.filename and Path(pp.filename).name == name
    ]
    decisions = [
        did for did, dp in parser.dmn_parsers.items() if dp.filename and Path(dp.filename).name == name
    ]
    return {"processes": processes, "decisions": decisions}


# ---------------------------------------------------------------------------------------- spec cache


class SpecCache:
    """Parsed specs per process version, parsed once and kept (bounded, least recently used first out)."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._specs: OrderedDict[int, tuple[Any, dict[str, Any]]] = OrderedDict()
        self._versions: dict[int, ProcessVersion] = {}
        self.parses = 0

    def version(self, session: Session, version_id: int) -> ProcessVersion:
        """A process version row; rows never change once stored, so each is read once per process."""
        found = self._versions.get(version_id)
        if found is None:
            found = session.get(ProcessVersion, version_id)
            if found is None:
                raise NotFound(f"no process version {version_id}")
            self._versions[version_id] = found
        return found

    def get(self, session: Session, version: ProcessVersion) -> tuple[Any, dict[str, Any]]:
        hit = self._specs.get(version.id)
        if hit is not None:
            self._specs.move_to_end(version.id)
            return hit
        parser = SpiffBpmnParser()
        ids = [*version.file_ids.get("bpmn", []), *version.file_ids.get("dmn", [])]
        for f in session.scalars(select(DefinitionFile).where(DefinitionFile.id.in_(ids))):
            root = etree.fromstring(f.content.encode("utf-8"))
            (parser.add_dmn_xml if f.kind == "dmn" else parser.add_bpmn_xml)(root, f.name)
        spec = parser.get_spec(version.process_key)
        subs = parser.get_subprocess_specs(version.process_key)
        self.parses += 1
        self._specs[version.id] = (spec, subs)
        if len(self._specs) > self._size:
            self._specs.popitem(last=False)
        return spec, subs

    def forms(self, session: Session, version: ProcessVersion) -> dict[str, Any]:
        """Return the form files of a version by name (parsed JSON)."""
        ids = version.file_ids.get("form", [])
        rows: Iterable[DefinitionFile] = (
            session.scalars(select(DefinitionFile).where(DefinitionFile.id.in_(ids))) if ids else []
        )
        return {f.name: json.loads(f.content) for f in rows}
