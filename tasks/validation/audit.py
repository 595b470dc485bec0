"""The audit report message: validate it, and summarize its scores for the audit-outcome DMN table."""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping

from .errors import FieldError, ValidationErrors, _error, _require_text, _required
from .vocabulary import AUDIT_MODULES, AUDIT_REPORT_FIELDS, AUDIT_TYPES, SCORE_ASPECTS, SCORES, STARTER_EXEMPT

_ISO_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _identifier(field: str, value: object) -> str:
    return _require_text(field, value).strip()


def _audit_type(value: object) -> str:
    if value is None or value == "":
        raise _required("audit_type")
    if not isinstance(value, str) or value not in AUDIT_TYPES:
        raise _error(
            "audit_type",
            "moet full (volledig), limited (beperkt) of follow_up (opvolging) zijn.",
            "must be full, limited or follow_up.",
        )
    return value


def _required_modules(audit_type: str) -> tuple[str, ...]:
    if audit_type == "full":
        return AUDIT_MODULES
    if audit_type == "limited":
        return tuple(module for module in AUDIT_MODULES if module not in STARTER_EXEMPT)
    return ()  # follow_up: any non-empty subset


def _scores(
    value: object, audit_type: str | None, errors: dict[str, FieldError]
) -> dict[str, dict[str, str]]:
    """Check the scores (collecting errors into ``errors``) and return the valid modules' scores.

    ``audit_type`` None means the type is unknown (itself wrong): only the modules' own scores are checked.
    """
    field = "scores"
    if value is None:
        errors[field] = _required(field)
        return {}
    if not isinstance(value, Mapping):
        errors[field] = _error(
            field,
            "moet per module een score voor conformiteit en aantoonbaarheid geven.",
            "must give a conformity and a demonstrability score per module.",
        )
        return {}
    if not value:
        errors[field] = _error(field, "bevat geen enkele module.", "contains no module.")
        return {}

    result: dict[str, dict[str, str]] = {}
    for module, module_scores in value.items():
        path = f"{field}.{module}"
        if not isinstance(module, str) or module not in AUDIT_MODULES:
            errors[f"{field}.{module}"] = _error(
                path,
                "onbekende module; geldig zijn " + ", ".join(AUDIT_MODULES) + ".",
                "unknown module; valid ones are " + ", ".join(AUDIT_MODULES) + ".",
            )
            continue
        if audit_type == "limited" and module in STARTER_EXEMPT:
            errors[path] = _error(
                path,
                "wordt in een beperkte audit (starter) niet gescoord en mag er niet in staan.",
                "is not scored in a limited (starter) audit and must be absent.",
            )
            continue
        if not isinstance(module_scores, Mapping):
            errors[path] = _error(
                path,
                "moet een score voor conformiteit en aantoonbaarheid geven.",
                "must give a conformity and a demonstrability score.",
            )
            continue
        pair: dict[str, str] = {}
        for aspect in SCORE_ASPECTS:
            aspect_path = f"{path}.{aspect}"
            score = module_scores.get(aspect)
            if score is None or score == "":
                errors[aspect_path] = _required(aspect_path)
            elif not isinstance(score, str) or score not in SCORES:
                errors[aspect_path] = _error(
                    aspect_path,
                    "moet B, G, T of V zijn.",
                    "must be B, G, T or V.",
                )
            else:
                pair[aspect] = score
        if len(pair) == len(SCORE_ASPECTS):
            result[module] = pair

    if audit_type is not None:
        for module in _required_modules(audit_type):
            if module not in value:
                path = f"{field}.{module}"
                kind_nl = "volledige" if audit_type == "full" else "beperkte"
                kind_en = "full" if audit_type == "full" else "limited"
                errors[path] = _error(
                    path,
                    f"ontbreekt; een {kind_nl} audit scoort deze module.",
                    f"is missing; a {kind_en} audit scores this module.",
                )
    return result


def _deadline(value: object) -> str | None:
    field = "follow_up_deadline"
    if value is None or value == "":
        return None
    if isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
        return value.isoformat()
    problem = _error(
        field,
        "moet een datum zijn in de vorm JJJJ-MM-DD (bv. 2027-06-30).",
        "must be a date written YYYY-MM-DD (e.g. 2027-06-30).",
    )
    if not isinstance(value, str) or not _ISO_DATE_RE.fullmatch(value.strip()):
        raise problem
    try:
        return _dt.date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise _error(
            field,
            "is geen bestaande datum.",
            "is not an existing date.",
        ) from None


def validate_audit_report(payload: Mapping[str, object]) -> dict[str, object]:
    """Validate an ``audit_report`` message and return its normalized fields, or raise ValidationErrors.

    Returns exactly ``application_id`` and ``report_id`` (non-empty, stripped), ``audit_type`` (``full``,
    ``limited`` or ``follow_up``), ``scores`` (``{module: {"conformity": s, "demonstrability": s}}`` with
    ``s`` one of B, G, T, V) and ``follow_up_deadline`` (ISO date string, or None when absent). Other keys,
    also inside a module's scores, are dropped; an unknown module is an error.

    The modules depend on the audit type: ``full`` scores all of AUDIT_MODULES; ``limited`` (a starter)
    scores all but STARTER_EXEMPT, which must be absent; ``follow_up`` scores any non-empty subset (a
    starter's follow-up re-audits STARTER_EXEMPT, a conditional registration's whatever it needs).

    All errors are collected; fields are named by dotted paths such as ``scores.activity.conformity``.
    """
    if not isinstance(payload, Mapping):
        raise ValidationErrors(
            {"payload": _error("payload", "moet een bericht met velden zijn.", "must be a mapping.")}
        )
    errors: dict[str, FieldError] = {}
    result: dict[str, object] = {}
    for name in ("application_id", "report_id"):
        try:
            result[name] = _identifier(name, payload.get(name))
        except FieldError as error:
            errors[name] = error
    audit_type: str | None = None
    try:
        audit_type = _audit_type(payload.get("audit_type"))
        result["audit_type"] = audit_type
    except FieldError as error:
        errors["audit_type"] = error
    result["scores"] = _scores(payload.get("scores"), audit_type, errors)
    try:
        result["follow_up_deadline"] = _deadline(payload.get("follow_up_deadline"))
    except FieldError as error:
        errors["follow_up_deadline"] = error
    if errors:
        raise ValidationErrors(errors)
    return {name: result[name] for name in AUDIT_REPORT_FIELDS}


def summarize_scores(scores: Mapping[str, object], audit_type: str) -> dict[str, object]:
    """Return the inputs of the audit-outcome DMN table: ``{"has_b", "has_g", "modules"}``.

    ``has_b``: some score is B; ``has_g``: some score is G; ``modules``: the scored modules, sorted. The
    scores are validated for ``audit_type`` first (ValidationErrors when they do not fit). The outcome
    policy (any B negative, else any G conditional, else positive) is the DMN table's, not this module's.
    """
    errors: dict[str, FieldError] = {}
    try:
        kind: str | None = _audit_type(audit_type)
    except FieldError as error:
        errors["audit_type"] = error
        kind = None
    checked = _scores(scores, kind, errors)
    if errors:
        raise ValidationErrors(errors)
    letters = {score for pair in checked.values() for score in pair.values()}
    return {"has_b": "B" in letters, "has_g": "G" in letters, "modules": sorted(checked)}
