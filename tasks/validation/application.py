"""The start of an application: validate and normalize the registration form's fields."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .bank import check_bic_matches_iban, normalize_bic, normalize_iban
from .enterprise_number import normalize_enterprise_number
from .errors import FieldError, ValidationErrors, _error, _require_text, _required
from .vocabulary import APPLICATION_FIELDS, COMPANY_NAME_MAX, EMAIL_MAX, PROVIDER_TYPES, SERVICES

_SERVICE_LABELS_NL = {"training": "opleiding", "advice": "advies"}

# Deliberately simple: one @, a local part without spaces, a domain of dot-separated labels ending in a
# top-level domain of at least two letters. Whether the address exists is for a confirmation mail.
_EMAIL_RE = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def _company_name(value: object) -> str:
    name = _require_text("company_name", value).strip()
    if len(name) > COMPANY_NAME_MAX:
        raise _error(
            "company_name",
            f"mag hoogstens {COMPANY_NAME_MAX} tekens tellen, niet {len(name)}.",
            f"may have at most {COMPANY_NAME_MAX} characters, not {len(name)}.",
        )
    if _CONTROL_RE.search(name):
        raise _error(
            "company_name",
            "mag geen regeleinden of andere stuurtekens bevatten.",
            "may not contain line breaks or other control characters.",
        )
    return name


def _email(value: object) -> str:
    address = _require_text("email", value).strip().lower()
    if len(address) > EMAIL_MAX or not _EMAIL_RE.fullmatch(address):
        raise _error(
            "email",
            "is geen geldig e-mailadres (verwacht iets als naam@bedrijf.be).",
            "is not a valid email address (expected something like name@company.be).",
        )
    return address


def _services(value: object) -> list[str]:
    field = "services"
    if value is None:
        raise _error(field, "kies minstens één dienst.", "choose at least one service.")
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise _error(
            field,
            "moet een lijst zijn (opleiding en/of advies).",
            "must be a list (training and/or advice).",
        )
    if not value:
        raise _error(field, "kies minstens één dienst.", "choose at least one service.")
    chosen: list[str] = []
    for item in value:
        if not isinstance(item, str) or item not in SERVICES:
            raise _error(
                field,
                "alleen opleiding (training) en advies (advice) zijn mogelijk.",
                "only training and advice are possible.",
            )
        if item in chosen:
            raise _error(
                field,
                f"{_SERVICE_LABELS_NL[item]} ({item}) staat er meer dan één keer in.",
                f"{item} is listed more than once.",
            )
        chosen.append(item)
    return chosen


def _provider_type(value: object) -> str:
    if value is None or value == "":
        raise _required("provider_type")
    if not isinstance(value, str) or value not in PROVIDER_TYPES:
        raise _error(
            "provider_type",
            "moet private (privaat) of public (publiek) zijn.",
            "must be private or public.",
        )
    return value


def _starter(value: object) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _error("starter", "moet ja of nee (true/false) zijn.", "must be yes or no (true/false).")
    return value


def validate_application(data: Mapping[str, object]) -> dict[str, object]:
    """Validate the start of an application and return its normalized fields, or raise ValidationErrors.

    Returns exactly the keys of the data dictionary's ``registration`` start: ``enterprise_number`` (10
    digits), ``company_name`` (stripped, 1-200 characters), ``email`` (stripped, lower case), ``iban``
    (compact, upper case), ``bic`` (upper case, 8 or 11 characters), ``services`` (non-empty list of unique
    ``"training"``/``"advice"``, in the given order), ``provider_type`` (``"private"``/``"public"``) and
    ``starter`` (bool, False when absent or None). Any other key is dropped: no mass assignment into
    process data.

    Every field is checked and all errors are reported together. When IBAN and BIC are each valid, the BIC
    must belong to the IBAN's bank (see :func:`check_bic_matches_iban`); that error is on ``bic``.

    Design decision: a public provider cannot be a starter (public providers need no audit at all, so the
    limited starter audit and the provisional registration make no sense for them); ``provider_type
    "public"`` with ``starter`` true is an error on ``starter``.
    """
    if not isinstance(data, Mapping):
        raise ValidationErrors(
            {"payload": _error("payload", "moet een formulier zijn.", "must be a mapping of fields.")}
        )
    errors: dict[str, FieldError] = {}
    result: dict[str, object] = {}

    checks: tuple[tuple[str, Callable[[Any], object]], ...] = (
        ("enterprise_number", normalize_enterprise_number),
        ("company_name", _company_name),
        ("email", _email),
        ("iban", normalize_iban),
        ("bic", normalize_bic),
        ("services", _services),
        ("provider_type", _provider_type),
        ("starter", _starter),
    )
    for name, check in checks:
        try:
            result[name] = check(data.get(name))
        except FieldError as error:
            errors[name] = error

    if "iban" in result and "bic" in result:
        try:
            check_bic_matches_iban(str(result["iban"]), str(result["bic"]))
        except FieldError as error:
            errors[error.field] = error
    if result.get("provider_type") == "public" and result.get("starter") is True:
        errors["starter"] = _error(
            "starter",
            "een publieke dienstverlener kan geen beginnende dienstverlener zijn (hij heeft geen audit"
            " nodig).",
            "a public provider cannot be a starter (it needs no audit).",
        )
    if errors:
        raise ValidationErrors(errors)
    return {name: result[name] for name in APPLICATION_FIELDS}
