"""Migrate running cases to another version (``/modeler/<key>/migrate``, role ``analist``).

GET shows the impact preview in words: how many cases wait at each element, which can move and why the
others cannot, and the timer rule; every movable case is ticked. POST moves the ticked cases, each in a
transaction of its own (``Engine.migrate_cases``, which keeps one row in the audit trail), and shows the
report: what moved, and what did not and why.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import g, render_template, request

from engine import clock, drafts
from engine.errors import InvalidInput
from engine.migration import MigrationPreview, Refusal

from ..auth import engine, roles_required
from ..i18n import N_, long_datetime, translate
from . import bp
from .views import process_name, version_number

KIND_WORDS = {
    "user_task": N_("taak"),
    "timer": N_("timer"),
    "message": N_("wacht op bericht"),
    "incident": N_("incident"),
    "multi_instance": N_("meervoudige taak"),
    "event": N_("wacht op gebeurtenis"),
    "running": N_("bezig"),
}
CHANGE_WORDS = {
    "unchanged": N_("ongewijzigd"),
    "changed": N_("gewijzigd"),
    "removed": N_("verwijderd in de nieuwe versie"),
}
REFUSAL_WORDS = {
    "suspended": N_("het dossier is geschorst: hervat het eerst"),
    "wiring": N_("er loopt een gebeurtenis-subproces in het dossier; dat kan niet naar een andere versie"),
    "multi_instance": N_("er loopt een meervoudige taak bij '%(element)s': wacht tot die klaar is"),
    "called_process_missing": N_(
        "het dossier loopt in '%(element)s', en dat proces zit niet meer in de nieuwe versie"
    ),
    "activity_changed": N_(
        "het dossier loopt in '%(element)s', en wat dat oproept of wat erna komt"
        " is gewijzigd in de nieuwe versie"
    ),
    "removed": N_("het dossier wacht bij '%(element)s', dat niet meer bestaat in de nieuwe versie"),
    "passed_removed": N_(
        "het dossier kwam al langs '%(element)s', dat niet meer bestaat in de nieuwe versie"
    ),
    "unaligned": N_("'%(element)s' komt met geen enkel element van de nieuwe versie overeen"),
    "timer": N_("een timer van de nieuwe versie kan voor dit dossier niet berekend worden"),
    "same_version": N_("het dossier staat al op die versie"),
    "other_version": N_("het dossier staat niet (meer) op de oude versie"),
    "ended": N_("het dossier is afgelopen"),
}
RULE_WORDS = {
    "kept": N_("ongewijzigd: blijft %(old)s"),
    "recomputed": N_("herberekend: %(old)s wordt %(new)s"),
    "restarted": N_("opnieuw gestart bij het migreren: %(new)s"),
}


def refusal_text(refusal: Refusal) -> str:
    words = REFUSAL_WORDS.get(refusal.code)
    if words is None:
        return refusal.message
    return translate(words) % {"element": refusal.element_name or refusal.element_id or ""}


def timer_text(rule: str, old: datetime | None, new: datetime | None, now: datetime) -> str:
    new_text = long_datetime(new)
    if new is not None and new <= now and rule != "kept":
        new_text += " " + translate("(voorbij: gaat af bij het migreren)")
    return translate(RULE_WORDS.get(rule, rule)) % {"old": long_datetime(old), "new": new_text}


def _number(name: str) -> int | None:
    value = request.values.get(name, "").strip()
    return version_number(value, name) if value else None


def _choice(key: str) -> tuple[int | None, int, dict[int, int], str]:
    """(from, to, running cases per version, process name): from the request, else the defaults."""
    eng = engine()
    with eng.transaction(write=False) as db:
        latest = drafts.latest(db, key)  # NotFound (404) for a process that was never deployed
        running = eng.running_versions(db, key)
    new = _number("to") or latest.version
    old = _number("from")
    if old is None:
        older = sorted((v for v, n in running.items() if v != new and n), reverse=True)
        old = older[0] if older else None
    return old, new, running, process_name(latest.name, key)


@bp.get("/<key>/migrate")
@roles_required("analist")
def migrate(key: str) -> Any:
    """The impact preview of moving the running cases of one version to another."""
    return _preview_page(key)


def _preview_page(
    key: str, error: str | None = None, reason: str = "", ticked: set[int] | None = None
) -> Any:
    old, new, running, name = _choice(key)
    preview: MigrationPreview | None = None
    if old is not None:
        eng = engine()
        with eng.transaction(write=False) as db:
            preview = eng.migration_preview(db, key, old, new)
    return render_template(
        "modeler/migrate.html",
        key=key,
        process_name=name,
        old=old,
        new=new,
        running=running,
        preview=preview,
        report=None,
        error=error,
        reason=reason,
        ticked=ticked if ticked is not None else set(preview.movable if preview else []),
        now=_now(),
        words=_words(),
    ), (400 if error else 200)


@bp.post("/<key>/migrate")
@roles_required("analist")
def migrate_run(key: str) -> Any:
    """Move the ticked cases, each in its own transaction; then show what moved and what did not."""
    old, new = _number("from"), _number("to")
    reason = request.form.get("reason", "").strip()
    ticked = {int(v) for v in request.form.getlist("case") if v.isdecimal() and len(v) < 10}
    if old is None or new is None:
        raise InvalidInput(translate("Kies de oude en de nieuwe versie."), "from")
    if not reason:
        return _preview_page(key, translate("Zeg waarom u de dossiers migreert."), reason, ticked)
    if not ticked:
        return _preview_page(key, translate("Kies minstens één dossier om te migreren."), reason, ticked)
    eng = engine()
    with eng.transaction(write=False) as db:
        name = process_name(drafts.latest(db, key).name, key)
    report = eng.migrate_cases(key, old, new, reason, actor=_actor(), instance_ids=sorted(ticked))
    return render_template(
        "modeler/migrate.html",
        key=key,
        process_name=name,
        old=old,
        new=new,
        running={},
        preview=None,
        report=report,
        error=None,
        reason=reason,
        ticked=set(),
        now=_now(),
        words=_words(),
    )


def _actor() -> str | None:
    person = getattr(g, "person", None)
    return getattr(person, "username", None)


def _now() -> datetime:
    return clock.now()


def _worded(table: dict[str, str]) -> Any:
    def word(code: str) -> str:
        return translate(table.get(code, code))

    return word


def _words() -> dict[str, Any]:
    return {
        "kind": _worded(KIND_WORDS),
        "change": _worded(CHANGE_WORDS),
        "refusal": refusal_text,
        "timer": timer_text,
        "moment": long_datetime,
    }
