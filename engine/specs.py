"""Process versions as specs: parsed once per version, kept as blueprints (``SpecCache``).

Deploying (validating files and storing versions) is ``engine.deploy``, reading files ``engine.sources``;
their public names are importable from here as well.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.specs.event_definitions.simple import NoneEventDefinition
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from sqlalchemy import select
from sqlalchemy.orm import Session

from .blueprint import Blueprint
from .datacopy import install as _install_data_copy
from .deploy import DeployResult, deploy
from .errors import NotFound
from .models import DefinitionFile, ProcessVersion
from .readywalk import install as _install_ready_walk
from .sources import SourceFile, read_sources

_install_data_copy()  # before any workflow of these specs runs (engine.datacopy)
_install_ready_walk()  # and finds its READY tasks without walking every task (engine.readywalk)

__all__ = ["DeployResult", "SourceFile", "SpecCache", "deploy", "read_sources", "start_properties"]


def start_properties(spec: Any) -> dict[str, Any]:
    """The ``spiffworkflow:properties`` of a process's plain start event (start form, validator)."""
    for task_spec in spec.task_specs.values():
        if type(task_spec).__name__ == "StartEvent" and isinstance(
            task_spec.event_definition, NoneEventDefinition
        ):
            return dict((getattr(task_spec, "extensions", None) or {}).get("properties", {}) or {})
    return {}


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
