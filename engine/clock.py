"""Give every part of kmop one "now": the system clock, or a simulated clock stored in the database.

SpiffWorkflow reads the time in one module (its timer event definitions); ``install`` routes those reads
here, so a timer's due date and its firing use the same clock as the rest of kmop. During an engine run
"now" is pinned, so that every date computed in one transaction agrees.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Protocol

from sqlalchemy import Engine as DbEngine
from sqlalchemy import insert, select, update

from .errors import ClockError
from .models import ClockState

_pinned: ContextVar[datetime | None] = ContextVar("kmop_pinned_now", default=None)


class Clock(Protocol):
    simulated: bool

    def now(self) -> datetime: ...


class SystemClock:
    """The real time, in UTC."""

    simulated = False

    def now(self) -> datetime:
        return datetime.now(UTC)


class SimulatedClock:
    """A "now" kept in the database (table ``clock_state``), shared by every process.

    It stands still until it is set or advanced. The first read fixes it at the real time.
    """

    simulated = True

    def __init__(self, db: DbEngine) -> None:
        self._db = db

    def now(self) -> datetime:
        with self._db.begin() as conn:
            value = conn.execute(select(ClockState.now).where(ClockState.id == 1)).scalar_one_or_none()
            if value is None:
                value = datetime.now(UTC).replace(microsecond=0)
                conn.execute(insert(ClockState).values(id=1, now=value))
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    def set(self, when: datetime) -> None:
        """Move the simulated time to ``when`` (never backwards)."""
        if when.tzinfo is None:
            raise ClockError("give the time with a UTC offset, e.g. 2027-01-01T09:00:00+01:00")
        current = self.now()
        if when < current:
            raise ClockError(
                f"the clock cannot go back: it is {current.isoformat()}, asked {when.isoformat()}"
            )
        with self._db.begin() as conn:
            conn.execute(update(ClockState).where(ClockState.id == 1).values(now=when))


_active: list[Clock] = [SystemClock()]
# A clock for this context only (``using``): a try-out's scratch engine runs on its own simulated clock
# while the process-wide clock stays the live one.
_local: ContextVar[Clock | None] = ContextVar("kmop_local_clock", default=None)


def install(clock: Clock) -> None:
    """Make ``clock`` the source of "now" for kmop and for SpiffWorkflow's timers."""
    _active[0] = clock
    _patch_spiff_timers()


def active() -> Clock:
    """The clock in use here: this context's (``using``), else the installed one."""
    local = _local.get()
    return local if local is not None else _active[0]


def now() -> datetime:
    """Return the current time: the pinned time inside an engine run, else the active clock's."""
    pinned = _pinned.get()
    return pinned if pinned is not None else active().now()


@contextlib.contextmanager
def using(clock: Clock) -> Iterator[Clock]:
    """Make ``clock`` the source of "now" in this context only (this thread or task), leaving the installed
    clock alone for everyone else; a pinned time from outside does not leak in."""
    _patch_spiff_timers()
    local, unpinned = _local.set(clock), _pinned.set(None)
    try:
        yield clock
    finally:
        _pinned.reset(unpinned)
        _local.reset(local)


@contextlib.contextmanager
def pinned(at: datetime | None = None) -> Iterator[datetime]:
    """Freeze "now" for the duration of one engine run."""
    value = at or active().now()
    token = _pinned.set(value)
    try:
        yield value
    finally:
        _pinned.reset(token)


class _ClockDatetime(datetime):
    """A ``datetime`` whose ``now`` asks kmop's clock; handed to SpiffWorkflow's timer module."""

    @classmethod
    def now(cls, tz: timezone | None = None) -> _ClockDatetime:  # type: ignore[override]
        value = now()
        if tz is not None:
            value = value.astimezone(tz)
        return cls.fromtimestamp(value.timestamp(), tz or UTC)


MAX_TIMER_YEARS = 1000


def _patch_spiff_timers() -> None:
    # Timer expressions without an offset would otherwise use the server's local zone (trap 4 in the
    # notes); kmop reads them as UTC, which is what the deploy-time check assumes too.
    from SpiffWorkflow.bpmn.specs.event_definitions import timer

    timer.datetime = _ClockDatetime
    timer.LOCALTZ = UTC
    definition = timer.TimerEventDefinition
    if not getattr(definition.parse_iso_duration, "kmop_bounded", False):
        definition.parse_iso_duration = staticmethod(_bounded(definition.parse_iso_duration))


def _bounded(parse: Any) -> Any:
    """The library's duration parser, refusing durations over ``MAX_TIMER_YEARS``: the library adds the
    months of a duration one by one, so a timer of a hundred million years (computed from data, which
    the deploy check cannot see) would hold the engine for minutes; now it fails as that timer's error."""

    def parse_iso_duration(expression: str) -> dict[str, Any]:
        parsed: dict[str, Any] = parse(expression)
        days = (
            parsed.get("years", 0) * 366
            + parsed.get("months", 0) * 31
            + parsed.get("weeks", 0) * 7
            + parsed.get("days", 0)
            + parsed.get("hours", 0) / 24
            + parsed.get("minutes", 0) / 1440
            + parsed.get("seconds", 0) / 86400
        )
        if days > MAX_TIMER_YEARS * 366:
            raise ValueError(f"the timer duration {expression} is longer than {MAX_TIMER_YEARS} years")
        return parsed

    parse_iso_duration.kmop_bounded = True  # type: ignore[attr-defined]
    return parse_iso_duration


def parse_duration(text: str) -> timedelta:
    """Parse a CLI duration: ISO 8601 (``P6W``, ``PT90M``, ``P2Y``) or shorthand (``6w``, ``3d``, ``2h``)."""
    value = text.strip()
    shorthand = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    if value and value[-1].lower() in shorthand and value[:-1].replace(".", "", 1).isdecimal():
        return timedelta(**{shorthand[value[-1].lower()]: float(value[:-1])})
    from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

    try:
        parsed = TimerEventDefinition.parse_iso_duration(value.upper())
    except Exception as exc:
        raise ClockError(f"not a duration: {text!r} (use ISO 8601 like P6W, PT2H, P2Y, or 6w, 3d)") from exc
    result: timedelta = TimerEventDefinition.get_timedelta_from_start(parsed, now())
    return result
