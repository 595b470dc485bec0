"""Speak Dutch first, English on request: Flask-Babel with gettext catalogs, the current language, dates.

Dutch is the source language: every text in the code, the templates and the diagrams is Dutch (the msgid),
and ``web/translations/en/LC_MESSAGES/messages.po`` holds its English. Pages are Dutch unless the person
chose English (the language buttons, or their account's language); the browser's language is not guessed.
After changing texts: ``pybabel extract -F babel.cfg -k translate -k N_ -o /tmp/messages.pot .`` lists
them; add the new msgids with their English to the catalog (``pybabel update`` would set aside as obsolete
the texts looked up only at run time, such as the diagrams' names, so merge new entries only), then
``pybabel compile -f -d web/translations`` (the catalog's header is marked fuzzy). The test
``tests/web/test_catalog.py`` says which texts still lack English.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date
from flask import Flask, g, has_request_context, session
from flask_babel import Babel, gettext

LANGUAGES = ("nl", "en")
BRUSSELS = ZoneInfo("Europe/Brussels")
TRANSLATIONS = Path(__file__).resolve().parent / "translations"


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=current_language, default_translation_directories=str(TRANSLATIONS))


def N_(text: str) -> str:  # noqa: N802 (gettext's name for "mark for translation, translate later")
    """Mark a Dutch text kept in a constant for the catalog; ``translate`` it where it is shown."""
    return text


def current_language() -> str:
    """The person's choice (this session's, else their account's); Dutch otherwise."""
    lang = getattr(g, "lang", None) or session.get("lang")
    return str(lang) if lang in LANGUAGES else "nl"


def translate(text: str) -> str:
    """Return ``text`` (Dutch) in the current language (itself outside a request, e.g. on the CLI)."""
    return gettext(text) if text and has_request_context() else text


def short_date(value: date | datetime | str | None) -> str:
    """``dd/mm/yyyy`` (local Brussels date for timestamps)."""
    if value is None or value == "":
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        value = value.astimezone(BRUSSELS).date() if value.tzinfo else value.date()
    return value.strftime("%d/%m/%Y")


def long_date(value: date | datetime | str | None) -> str:
    """The date as people write it: ``5 maart 2026`` (Dutch) or ``5 March 2026`` (English)."""
    if value is None or value == "":
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        value = value.astimezone(BRUSSELS).date() if value.tzinfo else value.date()
    return format_date(value, "long", locale="en_GB" if current_language() == "en" else "nl_BE")


def long_datetime(value: datetime | None) -> str:
    """``5 december 2026 om 14:30`` (Dutch) or ``5 December 2026 at 14:30`` (English), Brussels time."""
    if value is None:
        return "-"
    local = value.astimezone(BRUSSELS) if value.tzinfo else value
    joiner = " at " if current_language() == "en" else " om "
    return long_date(local.date()) + joiner + local.strftime("%H:%M")


def short_datetime(value: datetime | None) -> str:
    if value is None:
        return "-"
    local = value.astimezone(BRUSSELS) if value.tzinfo else value
    return local.strftime("%d/%m/%Y %H:%M")
