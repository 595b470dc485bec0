"""The migration part of the engine facade: preview and move running cases from one version to another."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import migration, runner
from ..errors import InvalidInput, KmopError, NotFound
from ..models import ProcessInstance, ProcessVersion, is_id
from ..views import _View
from .base import EngineBase


@dataclass(frozen=True)
class RefusedCase(_View):
    instance_id: int
    reason: str  # in English (the CLI, the audit trail)
    refusals: list[migration.Refusal] = field(default_factory=list)  # empty when refused for another reason


@dataclass(frozen=True)
class MigrationReport(_View):
    process_key: str
    from_version: int
    to_version: int
    moved: list[migration.MovedCase]
    refused: list[RefusedCase]


class MigrationMixin(EngineBase):
    """Move running instances of a process to another deployed version."""

    def migration_preview(
        self, session: Session, process_key: str, from_version: int, to_version: int
    ) -> migration.MigrationPreview:
        """What moving the running cases of ``from_version`` to ``to_version`` would do (nothing changes)."""
        return migration.preview(self.runtime, session, process_key, from_version, to_version)

    def migrate_instance(
        self, session: Session, instance_id: int, to_version: int, actor: str | None = None
    ) -> migration.MovedCase:
        """Move one case to ``to_version``; ``MigrationRefused`` (nothing changed) when it cannot."""
        runner.begin_write(session)
        if not is_id(instance_id):
            raise NotFound(f"no process instance {instance_id}")
        return migration.migrate(self.runtime, session, instance_id, to_version, actor)

    def running_versions(self, session: Session, process_key: str) -> dict[int, int]:
        """Version -> how many of its cases are still running."""
        return migration.running_by_version(session, process_key)

    def record_migration(
        self,
        session: Session,
        process_key: str,
        from_version: int,
        to_version: int,
        moved: Iterable[int],
        refused: dict[int, str],
        reason: str,
        actor: str | None,
    ) -> None:
        """Write the one audit-trail row of a bulk migration (after the loop, in its own transaction)."""
        runner.begin_write(session)
        migration.record_audit(session, process_key, from_version, to_version, moved, refused, reason, actor)

    def migrate_cases(
        self,
        process_key: str,
        from_version: int,
        to_version: int,
        reason: str,
        actor: str | None,
        instance_ids: Iterable[int] | None = None,
    ) -> MigrationReport:
        """Move the given cases (default: every running case of ``from_version``), each in a transaction of
        its own; then write one audit row. A case that cannot move is reported and left untouched."""
        reason = (reason or "").strip()
        if not reason:
            raise InvalidInput("say why the cases are migrated", "reason")
        with self.transaction(write=False) as session:
            migration.versions_of(session, process_key, from_version, to_version)  # both exist, and differ
            ids = (
                list(instance_ids)
                if instance_ids is not None
                else self._running_ids(session, process_key, from_version)
            )
        moved: list[migration.MovedCase] = []
        refused: list[RefusedCase] = []
        for instance_id in ids:
            try:
                with self.transaction(write=True) as session:
                    self._check_from(session, instance_id, process_key, from_version)
                    moved.append(self.migrate_instance(session, instance_id, to_version, actor))
            except migration.MigrationRefused as exc:
                refused.append(
                    RefusedCase(instance_id, "; ".join(r.message for r in exc.refusals), exc.refusals)
                )
            except KmopError as exc:
                refused.append(RefusedCase(instance_id, exc.message))
        with self.transaction() as session:
            self.record_migration(
                session,
                process_key,
                from_version,
                to_version,
                [m.instance_id for m in moved],
                {r.instance_id: r.reason for r in refused},
                reason,
                actor,
            )
        return MigrationReport(process_key, from_version, to_version, moved, refused)

    def _running_ids(self, session: Session, process_key: str, version: int) -> list[int]:
        return list(
            session.scalars(
                select(ProcessInstance.id)
                .join(ProcessVersion, ProcessVersion.id == ProcessInstance.process_version_id)
                .where(
                    ProcessVersion.process_key == process_key,
                    ProcessVersion.version == version,
                    ProcessInstance.status.not_in(runner.ENDED),
                )
                .order_by(ProcessInstance.id)
            )
        )

    def _check_from(self, session: Session, instance_id: int, process_key: str, version: int) -> None:
        """Refuse a case that is not a running case of ``process_key`` at ``version``."""
        inst = session.get(ProcessInstance, instance_id) if is_id(instance_id) else None
        if inst is None or inst.process_key != process_key:
            raise NotFound(f"no case {instance_id} of '{process_key}'")
        current = self.runtime.specs.version(session, inst.process_version_id).version
        if inst.status in runner.ENDED:
            raise migration.MigrationRefused(
                instance_id, [migration.Refusal("ended", None, None, f"it has ended ({inst.status})")]
            )
        if current != version:
            raise migration.MigrationRefused(
                instance_id,
                [
                    migration.Refusal(
                        "other_version", None, None, f"it is on version {current}, not {version}"
                    )
                ],
            )
