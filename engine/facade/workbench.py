"""The analyst's workbench part of the engine facade: drafts, validation, deploying a draft with a reason,
versions, the audit trail and the difference between two versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from .. import checks, drafts, modeldiff, runner
from ..errors import InvalidInput
from ..models import DefinitionAudit
from ..sources import SourceFile
from ..views import DeployView
from .base import EngineBase


class WorkbenchMixin(EngineBase):
    """Drafts of process models and what analysts did to the definitions."""

    def draft(self, session: Session, process_key: str) -> drafts.Draft:
        """The draft of a process, or the files of its latest version when nobody is editing it."""
        return drafts.draft(session, process_key)

    def process_models(self, session: Session) -> list[drafts.ModelSummary]:
        """Every deployed process: latest version, number of versions, running cases, open draft."""
        return drafts.summaries(session)

    def save_draft(
        self, session: Session, process_key: str, files: Any, actor: str | None
    ) -> list[drafts.Problem]:
        """Keep the edited files as the draft (never seen by running cases); return their problems."""
        runner.begin_write(session)
        return drafts.save_draft(session, process_key, drafts.sources_from(files), self.registry, actor)

    def discard_draft(self, session: Session, process_key: str, actor: str | None) -> bool:
        runner.begin_write(session)
        return drafts.discard_draft(session, process_key, actor)

    def validate_sources(self, session: Session, files: Any) -> list[drafts.Problem]:
        """Every problem ``deploy`` would find in these files (nothing is stored)."""
        return drafts.validate(session, drafts.sources_from(files), self.registry)

    def deploy_draft(self, session: Session, process_key: str, reason: str, actor: str | None) -> DeployView:
        """Deploy the draft with the analyst's reason; ``DeploymentError`` while a problem remains."""
        runner.begin_write(session)
        result = drafts.deploy_draft(session, process_key, reason, self.registry, actor)
        return DeployView(
            result.deployment_id,
            [{"process_key": k, "version": v} for k, v in result.created],
            [{"process_key": k, "version": v} for k, v in result.unchanged],
        )

    def versions(self, session: Session, process_key: str) -> list[drafts.VersionRecord]:
        return drafts.versions(session, process_key)

    def version_diagram(self, session: Session, process_key: str, version: int) -> tuple[str, str]:
        """(file name, BPMN XML) of the diagram that defines ``process_key`` at ``version``."""
        pv = drafts.version(session, process_key, version)
        main = drafts.main_file(drafts.version_files(session, pv), process_key)
        return main.name, main.content

    def version_sources(self, session: Session, process_key: str, version: int) -> list[SourceFile]:
        pv = drafts.version(session, process_key, version)
        return [SourceFile(f.name, f.content) for f in drafts.version_files(session, pv)]

    def model_diff(self, session: Session, process_key: str, old: int, new: int) -> modeldiff.ModelDiff:
        """What changed in the diagram of ``process_key`` from version ``old`` to version ``new``."""
        if old == new:
            raise InvalidInput("choose two different versions to compare", "to")
        return modeldiff.diff(
            self.version_diagram(session, process_key, old)[1],
            self.version_diagram(session, process_key, new)[1],
        )

    def audit_trail(self, session: Session, process_key: str) -> list[DefinitionAudit]:
        return drafts.audit_trail(session, process_key)

    def timer_moment(self, kind: str, expression: str) -> tuple[str | None, datetime | None]:
        """What is wrong with a timer expression, or the moment it fires when it starts now (the engine's
        clock, simulated or not); (None, None) when it depends on a case's data."""
        return checks.timer_moment(kind, expression)

    def operators(self) -> list[dict[str, Any]]:
        """The service operators a service task may call, with the parameters each one takes."""
        return [
            {
                "name": op.name,
                "description": op.description,
                "parameters": op.parameters(),
                "accepts_any": op.accepts_any(),
            }
            for op in sorted(self.registry, key=lambda o: o.name)
        ]
