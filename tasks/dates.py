"""Compute the domain's dates: the business calendar runs in Europe/Brussels; stored dates are ISO."""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

BRUSSELS = ZoneInfo("Europe/Brussels")
MONTHS_NL = (
    "januari", "februari", "maart", "april", "mei", "juni",
    "juli", "augustus", "september", "oktober", "november", "december",
)  # fmt: skip


def today(now: datetime) -> date:
    """The date in Brussels at the moment ``now``."""
    return now.astimezone(BRUSSELS).date()


def add_months(day: date, months: int) -> date:
    """Add calendar months; a day that does not exist becomes the month's last (29 Feb + 1 y = 28 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def add_years(day: date, years: int) -> date:
    return add_months(day, 12 * years)


def at_brussels(day: date, hour: int = 0) -> str:
    """An ISO timestamp with offset for ``hour`` o'clock in Brussels on ``day`` (for timer expressions)."""
    return datetime.combine(day, time(hour), BRUSSELS).isoformat()


def day_after(day: date) -> date:
    return day + timedelta(days=1)


def short(day: date) -> str:
    """``dd/mm/yyyy``, as the UI shows dates."""
    return day.strftime("%d/%m/%Y")


def long_nl(day: date) -> str:
    """``5 maart 2026``."""
    return f"{day.day} {MONTHS_NL[day.month - 1]} {day.year}"
