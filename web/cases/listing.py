"""Filter the cases list: process, version, status, the element a case waits at, overdue."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.models import InstanceAttribute, is_id
from engine.views import InstanceSummary

STATUSES = ("running", "waiting", "error", "suspended", "completed", "cancelled")
LIMIT = 500  # the newest cases that match the filters


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
            version=int(version) if version.isdigit() and is_id(int(version)) else None,
            status=status if status in STATUSES else None,
            waiting_at=(args.get("waiting_at") or "").strip() or None,
            overdue=args.get("overdue") in ("1", "on", "true"),
        )


@dataclass(frozen=True)
class Row:
    case: InstanceSummary
    overdue: bool
    refused: bool = False  # ended with a refusal (the domain's search field refusal_reason is set)


@dataclass(frozen=True)
class Listing:
    rows: list[Row]
    processes: list[str]
    versions: list[int]
    elements: list[str]


def list_cases(db: Session, engine: Any, filters: Filters, now: datetime) -> Listing:
    """The newest cases (at most LIMIT) that match every filter, all applied by the database."""
    summaries: list[InstanceSummary] = engine.instances(
        db,
        status=filters.status,
        process_key=filters.process,
        limit=LIMIT,
        version=filters.version,
        waiting_at=filters.waiting_at,
        overdue_at=now if filters.overdue else None,
    )
    late = engine.overdue(db, now, [s.id for s in summaries])
    ended = [s.id for s in summaries if s.status == "completed"]  # refused: ended, with a reason
    refused = set(
        db.scalars(
            select(InstanceAttribute.instance_id).where(
                InstanceAttribute.name == "refusal_reason", InstanceAttribute.instance_id.in_(ended)
            )
        )
        if ended
        else ()
    )
    deployed = engine.processes(db)
    return Listing(
        rows=[Row(s, s.id in late, s.id in refused) for s in summaries],
        processes=sorted({p.process_key for p in deployed}),
        versions=sorted({p.version for p in deployed}),
        elements=sorted(set(engine.waiting_elements(db)) | _given(filters.waiting_at)),
    )


def _given(value: str | None) -> set[str]:
    return {value} if value else set()
