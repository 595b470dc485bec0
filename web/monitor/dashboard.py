"""Gather the monitor's figures for one process and version (or all of them), each with the link to the
case list behind it. Everything is counted by the database (``engine.monitor``, ``tasks.monitoring``);
nothing here loads a case."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import url_for
from sqlalchemy.orm import Session

from engine.monitor import Scope, Spread, bands
from tasks import monitoring, notify
from web.cases.listing import REFUSED
from web.i18n import BRUSSELS, N_, translate

STATUSES = ("running", "waiting", "error", "suspended", "completed", "cancelled")
PERIODS = (30, 90, 365)  # days over which the stays' median and p90 are taken
UNITS = {"month": 12, "week": 26}  # how many months or weeks the charts show
BAND_NAMES = (N_("Minder dan 4 weken"), N_("4 tot 6 weken"), N_("Meer dan 6 weken"))
DEADLINE_NAMES = {
    "starter_end": N_("Einde van de voorlopige registratie (beginner, 2 jaar)"),
    "conditional_deadline": N_("Termijn van de opvolgingsaudit (voorwaardelijke registratie)"),
    "registration_end": N_("Einddatum van de registratie"),
    "renewal_first_reminder": N_("Eerste herinnering om te verlengen (6 maanden voor de einddatum)"),
    "renewal_second_reminder": N_("Tweede herinnering om te verlengen (3 maanden voor de einddatum)"),
}
OUTCOME_NAMES = {
    "started": N_("Aanvragen"),
    "registered": N_("Geregistreerd"),
    "refused": N_("Geweigerd"),
    "expired": N_("Verlopen"),
}


@dataclass(frozen=True)
class Count:
    """A figure and the case list behind it (None: no list shows these cases)."""

    label: str
    count: int
    link: str | None = None


@dataclass(frozen=True)
class ElementFigure:
    element_id: str
    name: str
    waiting: int
    spread: Spread | None
    link: str


@dataclass(frozen=True)
class Deadline:
    label: str
    counts: list[Count]  # within 30, 90 and 365 days


@dataclass(frozen=True)
class IncidentGroup:
    process_key: str
    element_id: str
    process: str  # in words
    element: str
    error: str
    count: int
    first_at: datetime
    last_at: datetime
    example: str
    link: str
    incident_ids: tuple[int, ...]
    cases: list[tuple[int, int]]  # (incident id, instance id) of the first few, to retry one by one


@dataclass
class Dashboard:
    scope: Scope
    now: datetime
    period: int
    unit: str
    processes: list[tuple[str, str]]  # (key, name in words)
    versions: list[int]
    statuses: list[Count]
    elements: list[ElementFigure]
    turnaround: list[Count]
    deadlines: list[Deadline]
    incidents: list[IncidentGroup]
    failed_mails: tuple[int, list[Any]]

    @property
    def shows_registration(self) -> bool:
        """The registration procedure's own panels (turnaround, deadlines, trends) belong to this scope."""
        return shows_registration(self.scope)


@dataclass
class Trends:
    """The slower-moving panels, loaded after the page (and refreshed less often): the time to a decision
    per month and the chart of outcomes per week or month."""

    scope: Scope
    unit: str
    decision_times: list[tuple[datetime, Spread | None]]  # (the month's first moment, its spread)
    chart: dict[str, Any] = field(default_factory=dict)


def shows_registration(scope: Scope) -> bool:
    return scope.process_key in (None, monitoring.PROCESS)


def _registration(scope: Scope) -> Scope:
    """The registration procedure within the scope: its version when one is chosen."""
    return Scope(monitoring.PROCESS, scope.version if scope.process_key else None)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _cases(scope: Scope, **filters: Any) -> str:
    """The link to the case list behind a figure."""
    args = {"process": scope.process_key, "version": scope.version, **filters}
    return url_for("cases.index", **{k: v for k, v in args.items() if v not in (None, "")})


def gather(db: Session, engine: Any, scope: Scope, now: datetime, period: int, unit: str) -> Dashboard:
    names = engine.element_names(db)
    deployed = engine.process_versions(db)
    keys = sorted({key for key, _ in deployed})
    board = Dashboard(
        scope=scope,
        now=now,
        period=period,
        unit=unit,
        processes=[(key, translate(names.get(key, key))) for key in keys],
        versions=sorted(v for key, v in deployed if key == scope.process_key),
        statuses=_statuses(db, engine, scope),
        elements=_elements(db, engine, scope, now, period, names) if scope.process_key else [],
        turnaround=[],
        deadlines=[],
        incidents=_incidents(db, engine, scope, names),
        failed_mails=notify.failed(db, limit=20),
    )
    if board.shows_registration:
        _registration_panels(db, engine, board)
    return board


def _statuses(db: Session, engine: Any, scope: Scope) -> list[Count]:
    from web.cases.texts import STATUS_NL

    counts = engine.status_counts(db, scope)
    shown = [Count(translate(STATUS_NL[s]), counts.get(s, 0), _cases(scope, status=s)) for s in STATUSES]
    if scope.process_key in (None, monitoring.PROCESS):
        refused = engine.instance_count(db, _refused_query(scope))  # completed with a refusal reason
        # of the ended ones: said so, so the cards do not seem to count a case twice
        shown.insert(5, Count(translate(N_("waarvan geweigerd")), refused, _cases(scope, outcome=REFUSED)))
    return shown


def _refused_query(scope: Scope) -> Any:
    from engine.pages import InstanceQuery

    return InstanceQuery(
        status="completed",
        process_key=scope.process_key,
        version=scope.version,
        has_field="refusal_reason",
    )


def _elements(
    db: Session, engine: Any, scope: Scope, now: datetime, period: int, names: Mapping[str, str]
) -> list[ElementFigure]:
    waiting = engine.waiting_now(db, scope)
    spreads = engine.stay_spread(db, scope, now - timedelta(days=period))
    shown = []
    for element in sorted(set(waiting) | set(spreads)):
        shown.append(
            ElementFigure(
                element_id=element,
                name=translate(names.get(element, element)),
                waiting=waiting.get(element, 0),
                spread=spreads.get(element),
                link=_cases(scope, waiting_at=element),
            )
        )
    return sorted(shown, key=lambda e: (-e.waiting, e.name))


def _incidents(db: Session, engine: Any, scope: Scope, names: Mapping[str, str]) -> list[IncidentGroup]:
    groups = []
    for group in engine.incident_groups(db, scope):
        groups.append(
            IncidentGroup(
                process_key=group.process_key,
                element_id=group.element_id,
                process=translate(names.get(group.process_key, group.process_key)),
                element=translate(names.get(group.element_id, group.element_id)),
                error=group.error_type,
                count=group.count,
                first_at=group.first_at,
                last_at=group.last_at,
                example=group.example,
                link=_cases(
                    Scope(group.process_key, scope.version), status="error", incident_at=group.element_id
                ),
                incident_ids=tuple(i for i, _ in group.incidents),
                cases=list(group.incidents[:5]),
            )
        )
    return groups


def _registration_panels(db: Session, engine: Any, board: Dashboard) -> None:
    now = board.now
    registration = _registration(board.scope)
    (wait,) = monitoring.AUDIT_REPORT_WAIT
    counts = engine.age_bands(db, registration, monitoring.AUDIT_REPORT_WAIT, monitoring.TURNAROUND, now)
    board.turnaround = [
        Count(
            translate(label),
            n,
            _cases(registration, waiting_at=wait, waited_after=_iso(band.start), waited_by=_iso(band.end)),
        )
        for label, n, band in zip(BAND_NAMES, counts, bands(now, monitoring.TURNAROUND), strict=True)
    ]
    board.deadlines = [
        Deadline(
            translate(DEADLINE_NAMES[deadline.code]),
            [
                Count(
                    str(horizon.days),
                    n,
                    _cases(
                        registration,
                        timer=f"{deadline.within}/{deadline.element}",
                        due_after=now.isoformat(),
                        due_by=(now + horizon).isoformat(),
                    ),
                )
                for n, horizon in zip(numbers, monitoring.HORIZONS, strict=True)
            ],
        )
        for deadline, numbers in monitoring.deadlines_due(db, registration, now).items()
    ]


def trends(db: Session, scope: Scope, now: datetime, unit: str) -> Trends:
    """The time to a decision per month and the chart, for the registration procedure in the scope."""
    registration = _registration(scope)
    months = edges("month", 12, now)
    decided = monitoring.decisions(db, registration, months)
    shown = Trends(scope, unit, list(zip(months, decided.spreads, strict=False)))
    shown.chart = _chart(db, unit, now, registration, decided if unit == "month" else None)
    return shown


def edges(unit: str, count: int, now: datetime) -> list[datetime]:
    """The edges of the last ``count`` weeks (from Monday) or months, the current one last: ``count`` + 1
    moments, each midnight in Brussels (the reader's calendar, summer time included), in UTC."""
    today = now.astimezone(BRUSSELS).date()
    if unit == "week":
        monday = today - timedelta(days=today.weekday())
        days = [monday - timedelta(weeks=n) for n in range(count - 1, -2, -1)]
    else:
        year, month = today.year, today.month + 1  # the start of next month closes the current one
        days = []
        for _ in range(count + 1):
            year, month = (year, month) if month <= 12 else (year + 1, month - 12)
            days.append(date(year, month, 1))
            year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        days.reverse()
    return [datetime(d.year, d.month, d.day, tzinfo=BRUSSELS).astimezone(UTC) for d in days]


def _chart(
    db: Session, unit: str, now: datetime, registration: Scope, decided: monitoring.Decisions | None
) -> dict[str, Any]:
    """Outcomes per week or month as Chart.js data, with the list behind each bar of applications
    (``decided``: the decisions of the same 12 months, counted already)."""
    moments = edges(unit, UNITS[unit], now)
    counted = monitoring.outcomes(db, registration, moments, decided)
    periods = list(zip(moments, moments[1:], strict=False))
    return {
        "labels": [_period_label(start, unit) for start, _end in periods],
        "datasets": [
            {"key": name, "label": translate(OUTCOME_NAMES[name]), "data": counted[name]}
            for name in monitoring.OUTCOMES
        ],
        "links": [
            _cases(registration, started_from=_iso(start), started_before=_iso(end)) for start, end in periods
        ],
        "empty": not any(any(counts) for counts in counted.values()),
    }


def _period_label(start: datetime, unit: str) -> str:
    from babel.dates import format_date

    from web.i18n import current_language

    local = start.astimezone(BRUSSELS).date()
    if unit == "week":
        return format_date(local, "d MMM", locale=current_language())
    return format_date(local, "MMM yyyy", locale=current_language())


def duration(seconds: float | None) -> str:
    """``3 weken``, ``5 dagen``, ``2 uur`` (English on English pages)."""
    if seconds is None:
        return "-"
    from babel.dates import format_timedelta

    from web.i18n import current_language

    return format_timedelta(timedelta(seconds=seconds), threshold=2, locale=current_language())


def client_data(board: Dashboard) -> dict[str, Any]:
    """What the page's script needs: the figures per element for the heatmap, and the chart."""
    return {
        "elements": {
            e.element_id: {
                "name": e.name,
                "waiting": e.waiting,
                "median": e.spread.median if e.spread else None,
                "p90": e.spread.p90 if e.spread else None,
                "median_text": duration(e.spread.median) if e.spread else "-",
                "p90_text": duration(e.spread.p90) if e.spread else "-",
                "link": e.link,
            }
            for e in board.elements
        },
        "texts": {
            "waiting": translate(N_("nu wachtend")),
            "median": translate(N_("mediaan")),
            "p90": translate(N_("p90")),
        },
    }
