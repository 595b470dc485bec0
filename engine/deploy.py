"""Deploy BPMN, DMN and form files: validate everything first, then store by content hash.

A deployment is refused whole when any file has a problem; the error lists every problem with its file,
element and what is wrong, and nothing is stored. Each process key gets a new version only when the
files its spec is built from (its own file, the processes it calls, the decisions and forms it uses)
changed; deploying the same content again changes nothing. Versions are parsed for running, once each,
by ``engine.specs.SpecCache``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import clock
from .checks import (
    FORM_PROPERTIES,
    call_cycle,
    check_task,
    dmn_definitions_ids,
    timer_problems,
    unresolved_references,
)
from .errors import DeploymentError, Problem
from .models import DefinitionFile, Deployment, ProcessVersion
from .services import ServiceRegistry
from .sources import Parsed, SourceFile, parse_all, problem_from, references


@dataclass
class DeployResult:
    deployment_id: int | None
    created: list[tuple[str, int]] = field(default_factory=list)  # (process key, version)
    unchanged: list[tuple[str, int]] = field(default_factory=list)


# --------------------------------------------------------------------------------------------- deploy


def deploy(
    session: Session, sources: list[SourceFile], registry: ServiceRegistry, actor: str | None = None
) -> DeployResult:
    """Validate ``sources`` and store what is new; raise ``DeploymentError`` naming every problem."""
    problems, parsed, checked = _check(session, sources, registry)
    if problems:
        raise DeploymentError(problems)
    return _store(session, parsed, sources, checked, actor)


def problems_of(session: Session, sources: list[SourceFile], registry: ServiceRegistry) -> list[Problem]:
    """Every problem ``deploy`` would refuse ``sources`` for, without storing anything (drafts)."""
    return _check(session, sources, registry)[0]


def _check(
    session: Session, sources: list[SourceFile], registry: ServiceRegistry
) -> tuple[list[Problem], Parsed, _Checked]:
    problems: list[Problem] = []
    if not sources:
        problems.append(Problem("(none)", None, "nothing to deploy: no BPMN, DMN or form files given"))
    names = [s.name for s in sources]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(Problem(dup, None, "two files with the same name in one deployment"))
    parsed = parse_all(session, sources, problems)
    checked = _check_processes(parsed, sources, registry, problems)
    return problems, parsed, checked


# ------------------------------------------------------------------------------------ process checks


@dataclass
class _Checked:
    bundles: dict[str, list[str]]  # process key -> names of every file its spec needs
    names: dict[str, str | None]


def _check_processes(
    parsed: Parsed, sources: list[SourceFile], registry: ServiceRegistry, problems: list[Problem]
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
            problems.append(problem_from(exc, file))
            continue
        names[pid] = spec.description if spec.description != pid else None
        for owner, sp in [(pid, spec), *subs.items()]:
            owner_file = Path(parser.process_parsers[owner].filename or file).name
            for task_spec in sp.task_specs.values():
                problems.extend(check_task(task_spec, owner_file, registry, parsed.forms))
        problems.extend(timer_problems(pp.node, file))
        bundles[pid] = _bundle(pid, subs, parser, parsed.forms)
    return _Checked(bundles, names)


def _bundle(pid: str, subs: dict[str, Any], parser: SpiffBpmnParser, forms: dict[str, Any]) -> list[str]:
    files: set[str] = set()
    for owner in [pid, *subs]:
        pp = parser.process_parsers.get(owner)
        if pp is not None and pp.filename:
            files.add(Path(pp.filename).name)
    _, decisions = references(parser)
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
    session: Session, parsed: Parsed, sources: list[SourceFile], checked: _Checked, actor: str | None
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
