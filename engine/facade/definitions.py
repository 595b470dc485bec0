"""The definitions part of the engine facade: deploy BPMN/DMN/forms and read what was deployed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import forms, runner, specs
from ..errors import NotFound
from ..models import DefinitionFile, ProcessVersion, UserTask
from ..views import DeployView, ProcessView
from .base import EngineBase


class DefinitionsMixin(EngineBase):
    """Deploy definitions; list processes; the diagram and forms of what was deployed."""

    def deploy(self, session: Session, paths: Sequence[str | Path], actor: str | None = None) -> DeployView:
        return self.deploy_sources(session, specs.read_sources(paths), actor)

    def deploy_sources(
        self, session: Session, sources: list[specs.SourceFile], actor: str | None = None
    ) -> DeployView:
        runner.begin_write(session)
        result = specs.deploy(session, sources, self.registry, actor)
        return DeployView(
            result.deployment_id,
            [{"process_key": k, "version": v} for k, v in result.created],
            [{"process_key": k, "version": v} for k, v in result.unchanged],
        )

    def processes(self, session: Session) -> list[ProcessView]:
        rows = session.scalars(
            select(ProcessVersion).order_by(ProcessVersion.process_key, ProcessVersion.version)
        )
        views = []
        for v in rows:
            ids = [*v.file_ids.get("bpmn", []), *v.file_ids.get("dmn", []), *v.file_ids.get("form", [])]
            names = session.scalars(select(DefinitionFile.name).where(DefinitionFile.id.in_(ids))).all()
            views.append(ProcessView(v.process_key, v.version, v.name, v.deployed_at, sorted(names)))
        return views

    def diagram(self, session: Session, instance_id: int) -> str:
        """Return the BPMN XML of the file that defines the instance's process (for viewers)."""
        inst = self._instance(session, instance_id)
        version = self.runtime.specs.version(session, inst.process_version_id)
        for f in session.scalars(
            select(DefinitionFile).where(DefinitionFile.id.in_(version.file_ids["bpmn"]))
        ):
            if inst.process_key in f.provides.get("processes", []):
                return f.content
        raise NotFound(f"no diagram stored for {inst.process_key}")

    def start_form(self, session: Session, process_key: str) -> tuple[str | None, dict[str, Any] | None]:
        """The start form of the latest version of a process: (file name, JSON Schema), if it has one."""
        pv = session.scalars(
            select(ProcessVersion)
            .where(ProcessVersion.process_key == process_key)
            .order_by(ProcessVersion.version.desc())
            .limit(1)
        ).first()
        if pv is None:
            raise NotFound(f"no deployed process '{process_key}'")
        name = self.runtime.specs.blueprint(session, pv).start_properties.get("formJsonSchemaFilename")
        return (name, forms.load_form(self.runtime.specs, session, pv, name)) if name else (None, None)

    def task_form(self, session: Session, task_id: str) -> tuple[str | None, dict[str, Any] | None]:
        """The form of a user task: (file name, JSON Schema), or (None, None) when it has none."""
        row = session.get(UserTask, task_id)
        if row is None:
            raise NotFound(f"no task {task_id}")
        if not row.form:
            return None, None
        inst = self._instance(session, row.instance_id)
        version = self.runtime.specs.version(session, inst.process_version_id)
        return row.form, forms.load_form(self.runtime.specs, session, version, row.form)
