"""Filter the cases list: process, version, status, the element a case waits at, overdue."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from engine.views import InstanceSummary

STATUSES = ("running", "waiting", "error", "suspended", "completed", "cancelled")
LIMIT = 500  # the newest cases searched; a filter narrows these down


@dataclass(frozen=True)
class Filters:
    process: str | None = None
    version: int | None = None
    status: str | None = None
    waiting_at: str | None = None
    overdue: bool = False

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> Filters:
        """Read the filters from a query string; unknown or malformed values count as "any"."""
        version = (args.get("version") or "").strip()
        status = (args.get("status") or "").strip()
        return cls(
            process=(args.get("process") or "").strip() or None,
            version=int(version) if version.isdigit() else None,
            status=status if status in STATUSES else None,
            waiting_at=(args.get("waiting_at") or "").strip() or None,
            overdue=args.get("overdue") in ("1", "on", "true"),
        )


@dataclass(frozen=True)
class Row:
    case: InstanceSummary
    overdue: bool


@dataclass(frozen=True)
class Listing:
    rows: list[Row]
    processes: list[str]
    versions: list[int]
    elements: list[str]


def overdue_cases(db: Session, engine: Any, now: datetime) -> set[int]:
    """Cases with a ready task past its due date, or a timer (or retry) whose time has passed."""
    late = {t.instance_id for t in engine.tasks(db) if t.overdue}
    late |= {w.instance_id for w in engine.timers(db) if w.due_at <= now}
    return late


def list_cases(db: Session, engine: Any, filters: Filters, now: datetime) -> Listing:
    summaries: list[InstanceSummary] = engine.instances(
        db, status=filters.status, process_key=filters.process, limit=LIMIT
    )
    if filters.version is not None:
        summaries = [s for s in summaries if s.version == filters.version]
    elements = sorted({e for s in summaries for e in s.waiting_at} | _given(filters.waiting_at))
    if filters.waiting_at:
        summaries = [s for s in summaries if filters.waiting_at in s.waiting_at]
    late = overdue_cases(db, engine, now)
    rows = [Row(s, s.id in late) for s in summaries if not filters.overdue or s.id in late]
    deployed = engine.processes(db)
    return Listing(
        rows=rows,
        processes=sorted({p.process_key for p in deployed}),
        versions=sorted({p.version for p in deployed}),
        elements=elements,
    )


def _given(value: str | None) -> set[str]:
    return {value} if value else set()
