"""Deploy BPMN, DMN and form files: validate everything first, store by content hash, parse once per version.

A deployment is refused whole when any file has a problem; the error lists every problem with its file,
element and what is wrong, and nothing is stored. Each process key gets a new version only when the
files its spec is built from (its own file, the processes it calls, the decisions and forms it uses)
changed; deploying the same content again changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.event_definitions.simple import NoneEventDefinition
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tasks.registry import ServiceRegistry

from . import clock
from .blueprint import Blueprint
from .checks import (
    BPMN_NS,
    FORM_PROPERTIES,
    call_cycle,
    check_task,
    dmn_definitions_ids,
    structure_problems,
    timer_problems,
    unresolved_references,
)
from .errors import DeploymentError, NotFound, Problem
from .models import DefinitionFile, Deployment, ProcessVersion


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
                problems.extend(structure_problems(root, src.name))
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
    dmn_ids = dmn_definitions_ids([(s.name, s.content) for s in sources if s.kind == "dmn"])
    for pid in parsed.own_processes:
        if pid not in executable:
            continue
        pp = parser.process_parsers[pid]
        file = Path(pp.filename or "?").name
        cycle = call_cycle(pid, parser)
        if cycle:
            problems.append(
                Problem(file, pid, f"call activities call each other in a loop: {' -> '.join(cycle)}")
            )
        unresolved = unresolved_references(pid, parser, dmn_ids)
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
                problems.extend(check_task(task_spec, owner_file, registry, parsed.forms))
        problems.extend(timer_problems(pp.node, file))
        bundles[pid] = _bundle(pid, subs, parser, parsed.forms)
    return _Checked(bundles, names)


def start_properties(spec: Any) -> dict[str, Any]:
    """The ``spiffworkflow:properties`` of a process's plain start event (start form, validator)."""
    for task_spec in spec.task_specs.values():
        if type(task_spec).__name__ == "StartEvent" and isinstance(
            task_spec.event_definition, NoneEventDefinition
        ):
            return dict((getattr(task_spec, "extensions", None) or {}).get("properties", {}) or {})
    return {}


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
    """Process versions as blueprints, parsed once per version and kept (bounded, least recently used out).

    A blueprint hands every workflow its own spec objects (``engine.blueprint``); the cache never shares
    a live spec between instances, so keeping it is exactly like parsing again in a new process.

    ``replay``: the parse results are kept and everything built from them is not: ``forget`` drops the
    blueprints, which the next transaction builds anew from the pristine parse, as a new process would.
    """

    def __init__(self, size: int = 256, replay: bool = False) -> None:
        self._size = size
        self._replay = replay
        self._blueprints: OrderedDict[int, Blueprint] = OrderedDict()
        self._parsed: dict[int, tuple[Any, dict[str, Any]]] = {}  # replay mode only: never run
        self._versions: dict[int, ProcessVersion] = {}
        self.parses = 0

    def forget(self) -> None:
        """Drop everything but the parse results, as a new process would start (replay mode)."""
        self._versions.clear()
        if self._replay:
            self._blueprints.clear()

    def version(self, session: Session, version_id: int) -> ProcessVersion:
        """A process version row; rows never change once stored, so each is read once per process."""
        found = self._versions.get(version_id)
        if found is None:
            found = session.get(ProcessVersion, version_id)
            if found is None:
                raise NotFound(f"no process version {version_id}")
            # Kept beyond this session: detach it, or a rollback of this session would expire it for all.
            session.expunge(found)
            self._versions[version_id] = found
        return found

    def blueprint(self, session: Session, version: ProcessVersion) -> Blueprint:
        """The version's blueprint: ``instantiate()`` it for a workflow; read ``start_properties``."""
        hit = self._blueprints.get(version.id)
        if hit is not None:
            self._blueprints.move_to_end(version.id)
            return hit
        parsed = self._parsed.get(version.id) or self._parse(session, version)
        made = Blueprint(*parsed)
        made.start_properties = start_properties(parsed[0])
        self._blueprints[version.id] = made
        if len(self._blueprints) > self._size:
            self._blueprints.popitem(last=False)
        return made

    def _parse(self, session: Session, version: ProcessVersion) -> tuple[Any, dict[str, Any]]:
        parser = SpiffBpmnParser()
        ids = [*version.file_ids.get("bpmn", []), *version.file_ids.get("dmn", [])]
        for f in session.scalars(select(DefinitionFile).where(DefinitionFile.id.in_(ids))):
            root = etree.fromstring(f.content.encode("utf-8"))
            (parser.add_dmn_xml if f.kind == "dmn" else parser.add_bpmn_xml)(root, f.name)
        parsed = parser.get_spec(version.process_key), parser.get_subprocess_specs(version.process_key)
        self.parses += 1
        if self._replay:
            self._parsed[version.id] = parsed
        return parsed

    def forms(self, session: Session, version: ProcessVersion) -> dict[str, Any]:
        """Return the form files of a version by name (parsed JSON)."""
        ids = version.file_ids.get("form", [])
        rows: Iterable[DefinitionFile] = (
            session.scalars(select(DefinitionFile).where(DefinitionFile.id.in_(ids))) if ids else []
        )
        return {f.name: json.loads(f.content) for f in rows}
