"""Speak Dutch first, English on request: a small catalog, the current language, and date formats."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import g, request, session

LANGUAGES = ("nl", "en")
BRUSSELS = ZoneInfo("Europe/Brussels")

# Dutch is the key and the default; English where a person asked for it.
EN: dict[str, str] = {
    "Aanmelden": "Log in",
    "Afmelden": "Log out",
    "Gebruikersnaam": "Username",
    "Wachtwoord": "Password",
    "Onbekende gebruikersnaam of fout wachtwoord.": "Unknown username or wrong password.",
    "U bent afgemeld.": "You are logged out.",
    "Geen toegang": "No access",
    "U hebt geen recht om deze pagina te zien.": "You have no right to see this page.",
    "Niet gevonden": "Not found",
    "Deze pagina bestaat niet.": "This page does not exist.",
    "Ongeldige aanvraag": "Bad request",
    "Conflict": "Conflict",
    "Taal": "Language",
    "Register": "Register",
    "Dossiers": "Cases",
    "Taken": "Tasks",
    "Mijn aanvragen": "My applications",
    "Audits": "Audits",
    "Gebruikers": "Users",
    "Startpagina": "Home",
    "Welkom": "Welcome",
    "Aangemeld als": "Logged in as",
}


def add_translations(texts: dict[str, str]) -> None:
    """Let an audience's package add its own English texts (called from its ``init_app``)."""
    EN.update(texts)


def current_language() -> str:
    lang = getattr(g, "lang", None)
    if lang:
        return str(lang)
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return str(chosen)
    best = request.accept_languages.best_match(LANGUAGES) if request else None
    return best or "nl"


def translate(text: str) -> str:
    """Return ``text`` (Dutch) in the current language."""
    return EN.get(text, text) if current_language() == "en" else text


def short_date(value: date | datetime | str | None) -> str:
    """``dd/mm/yyyy`` (local Brussels date for timestamps)."""
    if value is None or value == "":
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        value = value.astimezone(BRUSSELS).date() if value.tzinfo else value.date()
    return value.strftime("%d/%m/%Y")


def short_datetime(value: datetime | None) -> str:
    if value is None:
        return "-"
    local = value.astimezone(BRUSSELS) if value.tzinfo else value
    return local.strftime("%d/%m/%Y %H:%M")
