"""A case's history in words: who did what, at which step (by its name in the diagram), and what changed,
said with the data dictionary's labels and values; the raw entries stay on the technical tab."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.views import HistoryView
from tasks.models import Person

from ..i18n import long_datetime, translate
from . import casework, wording

# History events (``engine.runner.Run.record``) in words; an event not listed shows its own name.
EVENT_NL = {
    "started": "Gestart",
    "user_task_completed": "Taak afgerond",
    "task_completed": "Stap afgerond",
    "message_received": "Bericht ontvangen",
    "message_sent": "Bericht verstuurd",
    "timer_fired": "Termijn verstreken",
    "service_failed": "Dienst mislukt",
    "task_failed": "Stap mislukt",
    "incident_opened": "Incident geopend",
    "retried": "Opnieuw geprobeerd",
    "cancelled": "Geannuleerd",
    "status": "Status gewijzigd",
    "migrated": "Naar een nieuwe versie van het proces gebracht",
}
# What a provider reads in its case's history: what was done and decided, not the agency's operations.
PROVIDER_EVENTS = frozenset(
    {"started", "user_task_completed", "task_completed", "message_received", "timer_fired"}
)

# Events that only repeat what another entry says, or that nobody outside operations needs.
QUIET = frozenset({"retried"})
# The most fields a history line spells out; the technical tab has the rest.
MAX_FIELDS = 4


@dataclass(frozen=True)
class Line:
    at: datetime
    who: str
    event: str
    step: str
    note: str
    failed: bool = False


def people_names(db: Session, usernames: Iterable[str | None]) -> dict[str, str]:
    """Each username that acted on the case by the person's name (one query)."""
    wanted = {u for u in usernames if u}
    if not wanted:
        return {}
    rows = db.execute(select(Person.username, Person.name).where(Person.username.in_(wanted)))
    return {username: name for username, name in rows}


def step_name(names: Mapping[str, str], element: str | None) -> str:
    """An element's name from the diagram, in the reader's language; its id only when it has no name."""
    if not element:
        return ""
    return translate(names[element]) if element in names else element


def lines(
    history: Iterable[tuple[HistoryView, Mapping[str, Any]]],
    names: Mapping[str, str],
    people: Mapping[str, str],
    bureaus: Mapping[str, str],
    staff: bool,
) -> list[Line]:
    """The history, newest first, each entry as a line a person reads. ``history`` pairs each entry with
    its (already redacted) detail; people other than staff read only what was done and decided."""
    shown = []
    for entry, detail in history:
        if entry.event in QUIET or (not staff and entry.event not in PROVIDER_EVENTS):
            continue
        # a person's name; the username itself only for staff (it may be an e-mail address)
        who = people.get(entry.actor or "", (entry.actor or "") if staff else "")
        event = translate(EVENT_NL.get(entry.event, entry.event))
        shown.append(
            Line(
                at=entry.at,
                who=who,
                event=event,
                step=_step(names, entry),
                note=_note(entry.event, detail, bureaus, staff),
                failed=entry.event in ("service_failed", "task_failed", "incident_opened"),
            )
        )
    shown.reverse()
    return shown


def _step(names: Mapping[str, str], entry: HistoryView) -> str:
    """The step's name as recorded when it happened (ids repeat across diagrams), else by its id."""
    recorded = entry.detail.get("name") if isinstance(entry.detail, dict) else None
    if isinstance(recorded, str) and recorded and recorded != entry.element_id and entry.event != "started":
        return translate(recorded)
    return step_name(names, entry.element_id)


def _note(event: str, detail: Mapping[str, Any], bureaus: Mapping[str, str], staff: bool) -> str:
    if event == "status":
        before, after = detail.get("previous"), detail.get("status")
        said = casework.word(casework.CASE_STATUS, after)
        return f"{casework.word(casework.CASE_STATUS, before)} → {said}" if before else said
    if event in ("user_task_completed", "task_completed"):
        return _fields(
            detail.get("data") if event == "user_task_completed" else detail.get("changed"), bureaus
        )
    if event == "service_failed":
        attempt = translate("poging %s van %s") % (detail.get("attempt", "?"), detail.get("of", "?"))
        return f"{attempt}: {detail['error']}" if staff and detail.get("error") else attempt
    if event in ("task_failed", "incident_opened"):
        return str(detail.get("error") or "") if staff else ""
    if event in ("message_received", "message_sent"):
        return translate(str(detail.get("message") or ""))
    if event == "migrated":
        return _migrated(detail)
    return ""


def _migrated(detail: Mapping[str, Any]) -> str:
    """``van versie 1 naar versie 2; 4 weken zonder rapport: nu 26 december 2026 om 10:00``."""
    parts = [
        translate("van versie %(old)s naar versie %(new)s")
        % {"old": detail.get("from_version", "?"), "new": detail.get("to_version", "?")}
    ]
    for timer in detail.get("timers") or []:
        if not isinstance(timer, dict) or timer.get("rule") == "kept" or not timer.get("new_due_at"):
            continue
        try:
            moment = long_datetime(datetime.fromisoformat(str(timer["new_due_at"])))
        except ValueError:
            continue
        name = translate(str(timer.get("name") or timer.get("element_id") or ""))
        parts.append(translate("%(timer)s: nu %(moment)s") % {"timer": name, "moment": moment})
    return "; ".join(parts)


def _fields(changed: Any, bureaus: Mapping[str, str]) -> str:
    if not isinstance(changed, dict) or not changed:
        return ""
    known = {k: v for k, v in changed.items() if not k.startswith("_") and v not in (None, "", [], {})}
    said = wording.case_data(known, bureaus, known_only=True)
    parts = [f"{s.label}: {s.value}" for s in said[:MAX_FIELDS] if s.table is None]
    more = len(said) - MAX_FIELDS
    if more > 0:
        parts.append(translate("en %s andere gegevens") % more)
    return "; ".join(parts)
