"""Lists by page, shared by the staff's, the provider's, the bureau's and the public lists: the page, sort
and search asked for in the query string, what the typed text means, and the page links.

The text a person types in a list's search box is one of: an enterprise number in any format
(``0566988259``, ``0566.988.259``, ``BE 0566 988 259``), a registration number (``DV.O236716``), a case
key (``APP-2026-1A2B3C``), or else part of a company name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.pages import Match, Order
from tasks.keys import APPLICATION_KEY
from tasks.models import Registration

PAGE_SIZE = 25
MAX_QUERY = 200  # characters of search text kept
MAX_PAGE = 1_000_000  # a larger page number shows the last page, as any page past the end does
COMPANY = "company_name"  # the search field with the company's name


def _compact(text: str) -> str:
    """``text`` without spaces, dots and dashes, in capitals."""
    return "".join(ch for ch in text if not ch.isspace() and ch not in ".-/").upper()


def enterprise_digits(text: str) -> str | None:
    """The 10 digits of an enterprise number typed in any format (``BE 0566.988.259``), else None."""
    compact = _compact(text).removeprefix("BE")
    if compact.isascii() and compact.isdigit() and len(compact) in (9, 10):
        return compact.zfill(10)  # an old 9-digit number gets its leading 0
    return None


def registration_number(text: str) -> str | None:
    """A registration number typed in any format (``DV.O236716``, ``dv o 236716``), else None."""
    compact = _compact(text)
    if compact.startswith("DV") and len(compact) > 3 and compact[3:].isascii() and compact[3:].isdigit():
        return f"DV.{compact[2:]}"
    return None


def understand(db: Session, text: str) -> Match:
    """What the typed text finds: by enterprise number, registration number, case key or company name."""
    text = text.strip()
    if not text:
        return Match()
    digits = enterprise_digits(text)
    if digits:
        return Match(attributes={"enterprise_number": digits})
    number = registration_number(text)
    if number:
        keys = db.scalars(select(Registration.application_id).where(Registration.number == number))
        return Match(business_keys=sorted(set(keys)))
    if APPLICATION_KEY.fullmatch(text.upper()):
        return Match(business_keys=[text.upper()])
    return Match(contains=(COMPANY, text))


@dataclass(frozen=True)
class Paging:
    """The page, sort and search text a list was asked for (anything malformed counts as the default)."""

    page: int
    sort: str
    descending: bool
    text: str

    @classmethod
    def from_args(
        cls, args: Mapping[str, str], sorts: Sequence[str], default: str, descending: bool = False
    ) -> Paging:
        page = (args.get("page") or "").strip()
        sort = (args.get("sort") or "").strip()
        known = sort in sorts
        order = (args.get("dir") or "").strip()
        return cls(
            page=min(int(page), MAX_PAGE) if page.isdecimal() and len(page) < 12 and int(page) > 0 else 1,
            sort=sort if known else default,
            descending=(order == "desc") if known and order in ("asc", "desc") else descending,
            text=(args.get("q") or "").strip()[:MAX_QUERY],
        )

    @property
    def offset(self) -> int:
        return (self.page - 1) * PAGE_SIZE

    def order(self, key: str | None = None) -> Order:
        """The engine's order for this sort (``key``: the engine's name for it, when it differs)."""
        return Order(key or self.sort, self.descending)


@dataclass(frozen=True)
class Pager:
    """What the page links show: rows ``first``–``last`` of ``total``, and the page numbers to link."""

    page: int
    pages: int
    first: int
    last: int
    total: int
    numbers: list[int | None]  # None: a gap (…)


def pager(offset: int, shown: int, total: int, size: int | None = None) -> Pager:
    """The links for the page at ``offset`` (as the engine clamped it) showing ``shown`` rows."""
    size = size or PAGE_SIZE
    page = offset // size + 1
    pages = max(1, -(-total // size))
    wanted = {1, pages, *range(max(1, page - 2), min(pages, page + 2) + 1)}
    numbers: list[int | None] = []
    for n in sorted(wanted):
        if numbers and n - (numbers[-1] or 0) > 1:
            numbers.append(None)
        numbers.append(n)
    return Pager(page, pages, offset + 1 if shown else 0, offset + shown, total, numbers)


def link(**changes: object) -> str:
    """This page's address with some query arguments changed (None drops one)."""
    args: dict[str, Any] = {k: v for k, v in request.args.items() if k != "csrf_token"}
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = str(value)
    return url_for(str(request.endpoint), **{**(request.view_args or {}), **args})


def sort_link(paging: Paging, key: str) -> str:
    """Sort by ``key``; the same column again turns the order round. Back to the first page."""
    descending = not paging.descending if paging.sort == key else False
    return link(sort=key, dir="desc" if descending else "asc", page=None)


def init_app(state: object) -> None:
    """Give the templates the list helpers (from a blueprint's ``record_once``)."""
    from flask import Flask

    app = getattr(state, "app", state)
    assert isinstance(app, Flask)
    app.jinja_env.globals.update(list_link=link, sort_link=sort_link)
