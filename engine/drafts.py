"""Drafts of process models, validated as they are edited and deployed as a new version with a reason.

A draft is a copy of the files a process is built from (its BPMN file, the processes it calls, its
decision tables and forms) being edited by an analyst. It lives in its own table and never reaches a
running case: only ``deploy_draft`` turns it into a version, and only when ``deploy`` finds no problem.
Every deploy made here is kept in the definitions audit trail with who, when, why and what changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from . import clock, modeldiff
from .deploy import DeployResult, deploy, problems_of
from .errors import InvalidInput, NotFound, Problem

__all__ = ["Draft", "ModelSummary", "Problem", "VersionRecord"]
from .models import DefinitionAudit, DefinitionFile, Deployment, ModelDraft, ProcessInstance, ProcessVersion
from .run import ENDED
from .services import ServiceRegistry
from .sources import SourceFile

MAX_FILE_CHARS = 1_000_000
MAX_FILES = 40
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\- ]{0,199}")
_KINDS = (".bpmn", ".bpmn20.xml", ".dmn", ".json")


@dataclass(frozen=True)
class Draft:
    process_key: str
    name: str | None
    base_version: int | None
    saved: bool  # False: no draft yet, these are the files of the latest version
    updated_at: datetime | None
    updated_by: str | None
    main: str  # the BPMN file that defines the process
    files: list[SourceFile]


@dataclass(frozen=True)
class ModelSummary:
    """One process model on the workbench's list."""

    process_key: str
    name: str | None
    latest: int
    deployed_at: datetime
    versions: int
    running: int
    draft: bool


@dataclass(frozen=True)
class VersionRecord:
    version: int
    name: str | None
    deployed_at: datetime
    deployed_by: str | None
    reason: str | None
    files: list[str]


# --------------------------------------------------------------------------------------- versions


def latest(session: Session, key: str) -> ProcessVersion:
    pv = session.scalars(
        select(ProcessVersion)
        .where(ProcessVersion.process_key == key)
        .order_by(ProcessVersion.version.desc())
        .limit(1)
    ).first()
    if pv is None:
        raise NotFound(f"no deployed process '{key}'")
    return pv


def version(session: Session, key: str, number: int) -> ProcessVersion:
    pv = session.scalar(
        select(ProcessVersion).where(ProcessVersion.process_key == key, ProcessVersion.version == number)
    )
    if pv is None:
        raise NotFound(f"process '{key}' has no version {number}")
    return pv


def version_files(session: Session, pv: ProcessVersion) -> list[DefinitionFile]:
    ids = [*pv.file_ids.get("bpmn", []), *pv.file_ids.get("dmn", []), *pv.file_ids.get("form", [])]
    rows = session.scalars(select(DefinitionFile).where(DefinitionFile.id.in_(ids))).all()
    return sorted(rows, key=lambda f: ({"bpmn": 0, "dmn": 1}.get(f.kind, 2), f.name))


def main_file(files: list[DefinitionFile], key: str) -> DefinitionFile:
    for f in files:
        if f.kind == "bpmn" and key in f.provides.get("processes", []):
            return f
    raise NotFound(f"no diagram stored for {key}")


def summaries(session: Session) -> list[ModelSummary]:
    """Every deployed process with its latest version, its number of versions, its cases that have not
    ended and whether a draft is open: two queries, whatever the number of processes or cases."""
    running = dict(
        session.execute(
            select(ProcessVersion.process_key, func.count(ProcessInstance.id))
            .join(ProcessInstance, ProcessInstance.process_version_id == ProcessVersion.id)
            .where(ProcessInstance.status.not_in(ENDED))
            .group_by(ProcessVersion.process_key)
        ).all()
    )
    drafts_open = has_draft(session)
    found: dict[str, ModelSummary] = {}
    for pv in session.scalars(
        select(ProcessVersion).order_by(ProcessVersion.process_key, ProcessVersion.version)
    ):
        count = found[pv.process_key].versions + 1 if pv.process_key in found else 1
        found[pv.process_key] = ModelSummary(
            pv.process_key,
            pv.name,
            pv.version,
            pv.deployed_at,
            count,
            int(running.get(pv.process_key, 0)),
            pv.process_key in drafts_open,
        )
    return list(found.values())


def versions(session: Session, key: str) -> list[VersionRecord]:
    """Every deployed version of ``key``, newest first, with who deployed it, when and why."""
    rows = session.execute(
        select(ProcessVersion, Deployment)
        .join(Deployment, Deployment.id == ProcessVersion.deployment_id)
        .where(ProcessVersion.process_key == key)
        .order_by(ProcessVersion.version.desc())
    ).all()
    if not rows:
        raise NotFound(f"no deployed process '{key}'")
    return [
        VersionRecord(
            pv.version,
            pv.name,
            pv.deployed_at,
            dep.deployed_by,
            dep.reason,
            [f.name for f in version_files(session, pv)],
        )
        for pv, dep in rows
    ]


# ------------------------------------------------------------------------------------------ drafts


def draft(session: Session, key: str) -> Draft:
    """The draft of ``key``; without one, the files of its latest version (``saved`` False)."""
    pv = latest(session, key)
    files = version_files(session, pv)
    main = main_file(files, key).name
    row = session.get(ModelDraft, key)
    if row is None:
        return Draft(
            key, pv.name, pv.version, False, None, None, main, [SourceFile(f.name, f.content) for f in files]
        )
    sources = [SourceFile(f["name"], f["content"]) for f in row.files.get("files", [])]
    return Draft(
        key,
        pv.name,
        row.base_version,
        True,
        row.updated_at,
        row.updated_by,
        row.files.get("main", main),
        sources,
    )


def has_draft(session: Session) -> set[str]:
    return set(session.scalars(select(ModelDraft.process_key)))


def sources_from(raw: Any) -> list[SourceFile]:
    """Check the files an editor sent (``[{"name", "content"}]``) and turn them into sources."""
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("send the draft's files as a list of {name, content}", "files")
    if len(raw) > MAX_FILES:
        raise InvalidInput(f"a draft holds at most {MAX_FILES} files", "files")
    files: list[SourceFile] = []
    for item in raw:
        if not isinstance(item, dict):
            raise InvalidInput("each file is an object with a name and a content", "files")
        name, content = item.get("name"), item.get("content")
        if not isinstance(name, str) or not _NAME.fullmatch(name) or not name.lower().endswith(_KINDS):
            raise InvalidInput(
                f"file name {name!r} is not allowed: letters, digits, _ . - and an extension "
                ".bpmn, .dmn or .json",
                "files",
            )
        if not isinstance(content, str):
            raise InvalidInput(f"the content of {name} must be text", "files")
        if len(content) > MAX_FILE_CHARS:
            raise InvalidInput(f"{name} is larger than {MAX_FILE_CHARS} characters", "files")
        files.append(SourceFile(name, content))
    return files


def save_draft(
    session: Session, key: str, files: list[SourceFile], registry: ServiceRegistry, actor: str | None
) -> list[Problem]:
    """Keep ``files`` as the draft of ``key`` (it never affects running cases); return its problems."""
    current = draft(session, key)
    if current.main not in {f.name for f in files}:
        raise InvalidInput(f"the draft must keep the diagram {current.main}", "files")
    row = session.get(ModelDraft, key)
    content = {"main": current.main, "files": [{"name": f.name, "content": f.content} for f in files]}
    if row is None:
        row = ModelDraft(process_key=key, base_version=current.base_version, files=content)
        session.add(row)
    row.files = content
    row.updated_by = actor
    row.updated_at = clock.now()
    session.flush()
    return problems_of(session, files, registry)


def discard_draft(session: Session, key: str, actor: str | None) -> bool:
    latest(session, key)
    row = session.get(ModelDraft, key)
    if row is None:
        return False
    session.delete(row)
    _audit(session, "discard", key, None, actor, {})
    return True


def validate(session: Session, files: list[SourceFile], registry: ServiceRegistry) -> list[Problem]:
    return problems_of(session, files, registry)


def deploy_draft(
    session: Session, key: str, reason: str, registry: ServiceRegistry, actor: str | None
) -> DeployResult:
    """Deploy the draft of ``key`` with ``reason``; raise ``DeploymentError`` while a problem remains."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(
            "say why this version is deployed (the reason is kept in the audit trail)", "reason"
        )
    current = draft(session, key)
    if not current.saved:
        raise InvalidInput(f"there is no draft of {key} to deploy")
    before = latest(session, key)
    old_main = main_file(version_files(session, before), key).content
    result = deploy(session, current.files, registry, actor)
    if result.deployment_id is not None:
        dep = session.get(Deployment, result.deployment_id)
        assert dep is not None
        dep.reason = reason
    new_main = next(f.content for f in current.files if f.name == current.main)
    diff = modeldiff.diff(old_main, new_main)
    _audit(
        session,
        "deploy",
        key,
        reason,
        actor,
        {
            "created": [{"process_key": k, "version": v} for k, v in result.created],
            "unchanged": [{"process_key": k, "version": v} for k, v in result.unchanged],
            "from_version": before.version,
            "added": diff.added,
            "removed": diff.removed,
            "changed": sorted(diff.changed),
        },
    )
    session.execute(delete(ModelDraft).where(ModelDraft.process_key == key))
    return result


# ------------------------------------------------------------------------------------------ audit


def _audit(
    session: Session, action: str, key: str, reason: str | None, actor: str | None, detail: dict[str, Any]
) -> None:
    session.add(
        DefinitionAudit(
            at=clock.now(), actor=actor, action=action, process_key=key, reason=reason, detail=detail
        )
    )
    session.flush()


def audit_trail(session: Session, key: str, limit: int = 200) -> list[DefinitionAudit]:
    return list(
        session.scalars(
            select(DefinitionAudit)
            .where(DefinitionAudit.process_key == key)
            .order_by(DefinitionAudit.id.desc())
            .limit(limit)
        )
    )
