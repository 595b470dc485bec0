"""Case data in words for the people who read it: each known field's value as a person says it (services,
bureaus by name, outcomes, audit types, formatted numbers, dates, yes/no), and the scores as a table of
modules by conformity and demonstrability. Raw data stays on the staff case page's technical view."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tasks.validation import FieldError, format_enterprise_number, format_iban

from ..i18n import short_date, translate
from . import casework

PROVIDER_TYPES = {"private": "Privé", "public": "Publiek"}
OUTCOMES = {"positive": "Positief", "conditional": "Voorwaardelijk", "negative": "Negatief"}
DECISIONS = {"approve": "Goedkeuren", "reject": "Weigeren"}


@dataclass(frozen=True)
class Shown:
    """One field of the case: its key (a tooltip for staff), its label, its value in words, and for the
    scores a table (module, conformity, demonstrability) instead of a value."""

    key: str
    label: str
    value: str
    table: list[tuple[str, str, str]] | None = None


def case_data(
    data: Mapping[str, Any],
    bureaus: Mapping[str, str] | None = None,
    hide: set[str] | None = None,
    known_only: bool = False,
) -> list[Shown]:
    """The case's fields in the data dictionary's order, in words; ``hide`` leaves fields out (a task's
    own outputs, not yet decided); ``bureaus`` names audit bureaus by code; ``known_only`` leaves out
    what the data dictionary does not name (services' bookkeeping, for the technical view)."""
    order = {key: n for n, key in enumerate(casework.DATA_LABELS)}
    keys = sorted(
        (k for k in data if k not in (hide or set()) and (k in order or not known_only)),
        key=lambda k: (order.get(k, len(order)), k),
    )
    shown = []
    for key in keys:
        label = translate(casework.DATA_LABELS[key]) if key in casework.DATA_LABELS else key
        value = data[key]
        if key == "scores" and isinstance(value, dict):
            shown.append(Shown(key, label, "", score_rows(value)))
            continue
        if key == "declarations" and isinstance(value, list) and isinstance(data.get("services"), list):
            value = _per_service(value, data["services"])
        say = WORDS.get(key)
        try:
            text = say(value, bureaus or {}) if say is not None else _plain(value)
        except (FieldError, TypeError, ValueError, KeyError, AttributeError):
            text = _plain(value)  # a value of an unexpected shape still shows, as itself
        shown.append(Shown(key, label, text))
    return shown


def aspects() -> list[str]:
    return [translate(a) for a in casework.ASPECTS.values()]


def score_rows(scores: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(module, conformity, demonstrability) in words, the data dictionary's modules first."""
    rows = []
    known = [m for m in casework.MODULES if m in scores]
    for module in known + [m for m in scores if m not in casework.MODULES]:
        given = scores.get(module) or {}
        marks = [casework.word(casework.SCORES, given.get(a)) for a in casework.ASPECTS]  # "-": not scored
        rows.append((casework.word(casework.MODULES, module), marks[0], marks[1]))
    return rows


def _plain(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return translate("Ja") if value else translate("Nee")
    if isinstance(value, list):
        return ", ".join(_plain(v) for v in value) or "-"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_plain(v)}" for k, v in value.items()) or "-"
    return str(value)


def _words(table: dict[str, str]) -> Callable[[Any, Mapping[str, str]], str]:
    return lambda value, _: casework.word(table, value)


def _services(value: Any, _: Mapping[str, str]) -> str:
    if not isinstance(value, list):
        raise TypeError("services are a list")  # e.g. hidden: shown as itself
    return ", ".join(casework.word(casework.SERVICES, s) for s in value) or "-"


def _bureau(value: Any, bureaus: Mapping[str, str]) -> str:
    return bureaus.get(value, str(value)) if value else "-"


def _eligibility(value: Any, _: Mapping[str, str]) -> str:
    if value.get("eligible"):
        return translate("Ontvankelijk")
    return f"{translate('Niet ontvankelijk')}: {'; '.join(value.get('reasons') or [])}"


def _per_service(declarations: list[Any], services: list[Any]) -> list[Any]:
    """The multi-instance output (who signed, one per service, in the order of the services) with the
    service each signature is for."""
    if len(declarations) != len(services):
        return declarations
    return [
        {"service": s, "declared_by": d} if not isinstance(d, dict) else {"service": s, **d}
        for s, d in zip(services, declarations, strict=True)
    ]


def _declarations(value: Any, _: Mapping[str, str]) -> str:
    if not isinstance(value, list):
        raise TypeError("declarations are a list")  # e.g. hidden: shown as itself
    parts = []
    for d in value:
        if not isinstance(d, dict):
            d = {"declared_by": d}
        service = casework.word(casework.SERVICES, d.get("service")) if d.get("service") else ""
        signed = d.get("declared_by")
        state = translate("ondertekend door %s") % signed if signed else translate("niet ondertekend")
        parts.append(f"{service}: {state}" if service else state)
    return "; ".join(parts) or "-"


def _summary(value: Any, _: Mapping[str, str]) -> str:
    flags = (("has_b", "B-score"), ("has_g", "G-score"))
    found = [translate(name) for flag, name in flags if value.get(flag)]
    modules = ", ".join(casework.word(casework.MODULES, m) for m in value.get("modules") or [])
    return f"{', '.join(found) or translate('geen B- of G-score')}; {translate('modules')}: {modules or '-'}"


def _numbers(value: Any, _: Mapping[str, str]) -> str:
    items = value if isinstance(value, list) else [value]
    return ", ".join(str(i.get("registration_number") or i.get("number") or _plain(i)) for i in items) or "-"


WORDS: dict[str, Callable[[Any, Mapping[str, str]], str]] = {
    "enterprise_number": lambda v, _: format_enterprise_number(str(v)),
    "iban": lambda v, _: format_iban(str(v)),
    "services": _services,
    "service": lambda v, _: casework.word(casework.SERVICES, v),
    "provider_type": _words(PROVIDER_TYPES),
    "eligibility": _eligibility,
    "declarations": _declarations,
    "audit_bureau": _bureau,
    "expected_audit_type": _words(casework.AUDIT_TYPES),
    "audit_type": _words(casework.AUDIT_TYPES),
    "follow_up_deadline": lambda v, _: short_date(v) if v else "-",
    "audit_summary": _summary,
    "outcome": _words(OUTCOMES),
    "decision": _words(DECISIONS),
    "registration": _numbers,
    "certificates": _numbers,
}
