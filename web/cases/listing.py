"""Filter, search, sort and page the staff's cases list: process, version, status, the element a case waits
at, overdue, and the search text (``web.lists``); the database does all of it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from engine.models import is_id
from engine.monitor import Period, TimerDue
from engine.pages import InstanceQuery, InstanceRow
from web import lists

STATUSES = ("running", "waiting", "error", "suspended", "completed", "cancelled")
SORTS = ("id", "key", "company", "process", "status", "updated", "due")
ORDERS = {"company": f"field:{lists.COMPANY}"}  # the engine's names of the sorts that differ


REFUSED = "refused"  # the outcome filter: ended with a refusal (the search field refusal_reason is set)


@dataclass(frozen=True)
class Filters:
    process: str | None = None
    version: int | None = None
    status: str | None = None
    waiting_at: str | None = None
    overdue: bool = False
    # the cases behind a figure of the monitor (web.monitor links here with these)
    outcome: str | None = None
    started: Period | None = None  # started_from / started_before
    waiting_since: Period | None = None  # waited_after / waited_by: since when it waits at waiting_at
    timer: TimerDue | None = None  # timer=<within>/<element>, due_after, due_by
    incident_at: str | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> Filters:
        """Read the filters from a query string; unknown or malformed values count as "any"."""
        version = (args.get("version") or "").strip()
        status = (args.get("status") or "").strip()
        waiting_at = (args.get("waiting_at") or "").strip() or None
        return cls(
            process=(args.get("process") or "").strip() or None,
            version=int(version)
            if version.isdecimal() and len(version) < 12 and is_id(int(version))
            else None,
            status=status if status in STATUSES else None,
            waiting_at=waiting_at,
            overdue=args.get("overdue") in ("1", "on", "true"),
            outcome=REFUSED if args.get("outcome") == REFUSED else None,
            started=_period(args, "started_from", "started_before"),
            waiting_since=_period(args, "waited_after", "waited_by", closed_end=True) if waiting_at else None,
            timer=_timer(args),
            incident_at=(args.get("incident_at") or "").strip() or None,
        )

    @property
    def from_monitor(self) -> bool:
        """Whether a filter only the monitor's links set is on (the page says so, with a way back)."""
        return any((self.outcome, self.started, self.waiting_since, self.timer, self.incident_at))


def _small(text: str) -> bool:
    """A whole number that fits an id (a longer one is no id, and ``int`` refuses thousands of digits)."""
    return text.isdecimal() and len(text) < 12


def moment(value: str | None) -> datetime | None:
    """An ISO 8601 moment with its zone from a query string (None when absent or malformed)."""
    try:
        found = datetime.fromisoformat((value or "").strip())
        found.astimezone(UTC)  # a moment at the calendar's edge may not exist in UTC
    except (ValueError, OverflowError):
        return None
    return found if found.tzinfo is not None else None


def _period(
    args: Mapping[str, str], start_name: str, end_name: str, closed_end: bool = False
) -> Period | None:
    start, end = moment(args.get(start_name)), moment(args.get(end_name))
    return Period(start, end, closed_end) if start or end else None


def _timer(args: Mapping[str, str]) -> TimerDue | None:
    within, _, element = (args.get("timer") or "").strip().partition("/")
    after, by = moment(args.get("due_after")), moment(args.get("due_by"))
    if not (within and element and after and by):
        return None
    return TimerDue(within, element, after, by)


@dataclass(frozen=True)
class Row:
    case: Any  # engine.views.InstanceSummary
    overdue: bool
    refused: bool = False  # ended with a refusal (the domain's search field refusal_reason is set)
    due_at: datetime | None = None
    company: str | None = None


@dataclass(frozen=True)
class Listing:
    rows: list[Row]
    pager: lists.Pager
    processes: list[str]
    versions: list[int]
    elements: list[str]
    names: dict[str, str]  # element and process names by id, to show where cases wait in words


def paging_of(args: Mapping[str, str]) -> lists.Paging:
    return lists.Paging.from_args(args, SORTS, "id", descending=True)


def list_cases(db: Session, engine: Any, filters: Filters, paging: lists.Paging, now: datetime) -> Listing:
    """One page of the cases that match every filter and the search text, sorted as asked."""
    query = InstanceQuery(
        status=filters.status,
        process_key=filters.process,
        version=filters.version,
        waiting_at=(filters.waiting_at,) if filters.waiting_at else (),
        overdue_at=now if filters.overdue else None,
        match=lists.understand(db, paging.text),
        started=filters.started,
        waiting_since=filters.waiting_since,
        timer=filters.timer,
        incident_at=filters.incident_at,
        has_field="refusal_reason" if filters.outcome == REFUSED else None,
    )
    order = paging.order(ORDERS.get(paging.sort))
    page = engine.instance_page(db, query, order, paging.offset, lists.PAGE_SIZE)
    deployed = engine.process_versions(db)
    return Listing(
        rows=[_row(r, now) for r in page.rows],
        pager=lists.pager(page.offset, len(page.rows), page.total),
        processes=sorted({key for key, _ in deployed}),
        versions=sorted({version for _, version in deployed}),
        elements=sorted(set(engine.wait_elements(db)) | _given(filters.waiting_at)),
        names=engine.element_names(db),
    )


def _row(found: InstanceRow, now: datetime) -> Row:
    case = found.case
    return Row(
        case=case,
        overdue=found.due_at is not None and found.due_at < now,
        refused=case.status == "completed" and bool(found.fields.get("refusal_reason")),
        due_at=found.due_at,
        company=found.fields.get(lists.COMPANY),
    )


def _given(value: str | None) -> set[str]:
    return {value} if value else set()
