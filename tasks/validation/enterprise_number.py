"""Enterprise number (KBO ondernemingsnummer): normalize and format, with the domain's stricter checks."""

from __future__ import annotations

import re

from stdnum.be import vat as _stdnum_be_vat
from stdnum.exceptions import InvalidComponent, ValidationError

from .errors import FieldError, _error, _remove, _require_text, _required

_DIGITS_RE = re.compile(r"[0-9]*")


def normalize_enterprise_number(value: str) -> str:
    """Return the enterprise number as its 10 digits, or raise FieldError("enterprise_number", ...).

    Spaces, dots, dashes and a ``BE`` prefix (any case) are stripped. The number must then be 10 digits,
    start with 0 or 1, and its last two digits must equal ``97 - (first 8 digits mod 97)``.

    python-stdnum's ``be.vat`` does the first-digit and check-digit tests, but is more lenient than the
    domain in two ways, both closed here: it pads a 9-digit number with a leading 0 (the old format), and
    it accepts any last two digits that make the sum divisible by 97, so ``00``, ``98`` and ``99`` pass
    where the domain requires ``97``, ``01`` and ``02``.
    """
    field = "enterprise_number"
    text = _require_text(field, value)
    number = _remove(text, ".-").upper()
    if number.startswith("BE"):
        number = number[2:]
    if not number:
        raise _required(field)
    if not _DIGITS_RE.fullmatch(number):
        raise _error(
            field,
            "mag alleen cijfers bevatten (spaties, punten, streepjes en het voorvoegsel BE mogen).",
            "may contain digits only (spaces, dots, dashes and the BE prefix are allowed).",
        )
    if len(number) != 10:
        raise _error(
            field,
            f"moet uit 10 cijfers bestaan, niet {len(number)}.",
            f"must be 10 digits, not {len(number)}.",
        )
    try:
        _stdnum_be_vat.validate(number)
    except InvalidComponent:
        raise _error(field, "moet beginnen met 0 of 1.", "must start with 0 or 1.") from None
    except ValidationError:  # InvalidChecksum; InvalidFormat for 0000000000, whose check digits are 97
        raise _check_digits_error() from None
    if number[0] not in "01":  # stdnum checks this too; kept so the rule does not depend on it
        raise _error(field, "moet beginnen met 0 of 1.", "must start with 0 or 1.")
    if 97 - int(number[:8]) % 97 != int(number[8:]):
        raise _check_digits_error()
    return number


def _check_digits_error() -> FieldError:
    return _error(
        "enterprise_number",
        "de controlecijfers (de laatste twee cijfers) kloppen niet; controleer het nummer.",
        "the check digits (the last two digits) are wrong; check the number.",
    )


def format_enterprise_number(value: str) -> str:
    """Return a valid enterprise number as ``0xxx.xxx.xxx`` (raises FieldError when it is not valid)."""
    number = normalize_enterprise_number(value)
    return f"{number[:4]}.{number[4:7]}.{number[7:]}"
