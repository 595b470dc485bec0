"""The monitoring part of the engine facade: counts for dashboards and metrics, and worker heartbeats."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import monitor
from ..models import WorkerHeartbeat
from ..monitor import IncidentGroup, Scope, Spread
from .base import EngineBase


class MonitorMixin(EngineBase):
    """Aggregates over all instances (never loading one), and the workers' signs of life."""

    def status_counts(self, session: Session, scope: Scope) -> dict[str, int]:
        return monitor.status_counts(session, scope)

    def waiting_now(self, session: Session, scope: Scope) -> dict[str, int]:
        return monitor.waiting_now(session, scope)

    def stay_spread(self, session: Session, scope: Scope, since: datetime) -> dict[str, Spread]:
        return monitor.stay_spread(session, scope, since)

    def duration_by_period(
        self,
        session: Session,
        scope: Scope,
        edges: Sequence[datetime],
        statuses: Sequence[str] = ("completed",),
    ) -> list[Spread | None]:
        return monitor.duration_by_period(session, scope, edges, statuses)

    def age_bands(
        self,
        session: Session,
        scope: Scope,
        element_ids: Sequence[str],
        edges: Sequence[timedelta],
        now: datetime,
    ) -> list[int]:
        return monitor.age_bands(session, scope, element_ids, edges, now)

    def timers_due(
        self,
        session: Session,
        scope: Scope,
        places: Sequence[tuple[str, str]],
        now: datetime,
        horizons: Sequence[timedelta],
    ) -> dict[tuple[str, str], list[int]]:
        return monitor.timers_due(session, scope, places, now, horizons)

    def started_by_period(self, session: Session, scope: Scope, edges: Sequence[datetime]) -> list[int]:
        return monitor.started_by_period(session, scope, edges)

    def incident_groups(self, session: Session, scope: Scope) -> list[IncidentGroup]:
        return monitor.incident_groups(session, scope)

    def beat(self, session: Session, name: str, now: datetime, fired: int = 0) -> None:
        """Record that the worker ``name`` is alive at ``now`` (kmop's clock)."""
        row = session.get(WorkerHeartbeat, name)
        if row is None:
            session.add(WorkerHeartbeat(name=name, beat_at=now, started_at=now, fired=fired))
        else:
            row.beat_at, row.fired = now, fired

    def last_beat(self, session: Session) -> datetime | None:
        """When the youngest heartbeat of any worker was written (None: no worker ever ran)."""
        return session.scalar(
            select(WorkerHeartbeat.beat_at).order_by(WorkerHeartbeat.beat_at.desc()).limit(1)
        )
