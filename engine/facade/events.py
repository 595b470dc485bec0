"""The events part of the engine facade: messages, timers, the worker's jobs and retries of incidents."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from .. import messages, runner, timers
from ..errors import Conflict, NotFound
from ..models import Incident, is_id
from ..views import InstanceSummary, MessageResult
from .base import EngineBase

log = logging.getLogger("kmop.engine")


class EventsMixin(EngineBase):
    """What wakes instances: a message, a due timer or retry, the clock, a worker job, a manual retry."""

    def message(
        self,
        session: Session,
        name: str,
        key: str | None = None,
        payload: dict[str, Any] | None = None,
        message_id: str | None = None,
        actor: str | None = None,
    ) -> MessageResult:
        runner.begin_write(session)
        return messages.send(self.runtime, session, name, key, payload, message_id, actor)

    def run_jobs(self) -> dict[str, int]:
        """Run the application's worker jobs (``ServiceRegistry.register_job``) once each; return what
        each did. A job that fails is logged and the others still run."""
        done: dict[str, int] = {}
        for name, job in self.registry.jobs.items():
            try:
                done[name] = job(self.transaction)
            except Exception:
                log.exception("worker job %r failed; the next sweep tries again", name)
        return done

    def fire_due(self) -> int:
        """Wake every instance with a due timer or retry (own transactions); return how many."""
        return timers.fire_due(self.runtime, self.transaction)

    def advance_clock(self, target: datetime) -> int:
        return timers.advance_to(self.runtime, self.transaction, target)

    def retry(self, session: Session, incident_id: int, actor: str | None = None) -> InstanceSummary:
        """Run the failed task of an incident once more; a new failure opens a new incident."""
        runner.begin_write(session)
        incident = session.get(Incident, incident_id) if is_id(incident_id) else None
        if incident is None:
            raise NotFound(f"no incident {incident_id}")
        if incident.status != "open":
            raise Conflict(f"incident {incident_id} is already {incident.status}")

        def action(run: runner.Run) -> None:
            incident.status, incident.resolved_at, incident.resolved_by = "resolved", run.now, actor
            session.flush()
            run.manual_retry = True
            runner.retry_failed_tasks(run)

        inst = runner.execute(self.runtime, session, incident.instance_id, action, actor=actor)
        assert inst is not None
        return self._summary(session, inst)
