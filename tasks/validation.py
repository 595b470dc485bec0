"""Validate and normalize the data of kmo-portefeuille applications and audit reports.

The rules come from ``domain.md`` ("Conditions to register", "Validation rules", "Data dictionary").
The arithmetic is python-stdnum's (enterprise number, IBAN with the Belgian national check and the
Belgian bank-code-to-BIC table, BIC); this module adds the few checks where the domain is stricter than
the library, and turns the library's exceptions into messages that name the field and what is wrong, in
Dutch first (``message_nl``) with English available (``message_en``).

Messages never repeat an account number, e-mail address, name or enterprise number (personal data, and
error messages end up in logs); at most a country or bank code, a length, or the value that was expected.

Nothing here makes a business decision: :func:`summarize_scores` prepares the inputs of the audit-outcome
DMN table, the policy itself lives in that table.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from stdnum import bic as _stdnum_bic
from stdnum import iban as _stdnum_iban
from stdnum import numdb as _stdnum_numdb
from stdnum.be import iban as _stdnum_be_iban
from stdnum.be import vat as _stdnum_be_vat
from stdnum.exceptions import (
    InvalidChecksum,
    InvalidComponent,
    ValidationError,
)

__all__ = [
    "APPLICATION_FIELDS",
    "AUDIT_MODULES",
    "AUDIT_REPORT_FIELDS",
    "AUDIT_TYPES",
    "PROVIDER_TYPES",
    "SCORES",
    "SCORE_ASPECTS",
    "SERVICES",
    "STARTER_EXEMPT",
    "FieldError",
    "ValidationErrors",
    "check_bic_matches_iban",
    "format_enterprise_number",
    "format_iban",
    "normalize_bic",
    "normalize_enterprise_number",
    "normalize_iban",
    "summarize_scores",
    "validate_application",
    "validate_audit_report",
]

# --------------------------------------------------------------------------------------------------
# Vocabulary of the data dictionary
# --------------------------------------------------------------------------------------------------

SERVICES = ("training", "advice")
PROVIDER_TYPES = ("private", "public")
APPLICATION_FIELDS = (
    "enterprise_number",
    "company_name",
    "email",
    "iban",
    "bic",
    "services",
    "provider_type",
    "starter",
)

AUDIT_MODULES = ("activity", "experience", "satisfaction", "knowledge", "integrity")
STARTER_EXEMPT = ("experience", "satisfaction")
SCORES = ("B", "G", "T", "V")
SCORE_ASPECTS = ("conformity", "demonstrability")
AUDIT_TYPES = ("full", "limited", "follow_up")
AUDIT_REPORT_FIELDS = ("application_id", "report_id", "audit_type", "scores", "follow_up_deadline")

COMPANY_NAME_MAX = 200
EMAIL_MAX = 254

# Field labels (Dutch, English) used at the start of every message.
_LABELS: dict[str, tuple[str, str]] = {
    "payload": ("Gegevens", "Data"),
    "enterprise_number": ("Ondernemingsnummer", "Enterprise number"),
    "company_name": ("Bedrijfsnaam", "Company name"),
    "email": ("E-mailadres", "Email address"),
    "iban": ("IBAN", "IBAN"),
    "bic": ("BIC", "BIC"),
    "services": ("Diensten", "Services"),
    "provider_type": ("Type dienstverlener", "Provider type"),
    "starter": ("Beginnende dienstverlener", "Starter"),
    "application_id": ("Aanvraag", "Application id"),
    "report_id": ("Rapportnummer", "Report id"),
    "audit_type": ("Type audit", "Audit type"),
    "scores": ("Scores", "Scores"),
    "follow_up_deadline": ("Termijn opvolgingsaudit", "Follow-up audit deadline"),
}
_MODULE_LABELS: dict[str, tuple[str, str]] = {
    "activity": ("activiteit", "activity"),
    "experience": ("ervaring", "experience"),
    "satisfaction": ("klanttevredenheid", "satisfaction"),
    "knowledge": ("kennis", "knowledge"),
    "integrity": ("integriteit", "integrity"),
}
_ASPECT_LABELS: dict[str, tuple[str, str]] = {
    "conformity": ("conformiteit", "conformity"),
    "demonstrability": ("aantoonbaarheid", "demonstrability"),
}
_SERVICE_LABELS_NL = {"training": "opleiding", "advice": "advies"}

_DIGITS_RE = re.compile(r"[0-9]*")
_IBAN_CHARS_RE = re.compile(r"[A-Z0-9]*")
_IBAN_HEAD_RE = re.compile(r"[A-Z]{2}[0-9]{2}")
_BBAN_PART_RE = re.compile(r"([1-9][0-9]*)!([nac])")
_ISO_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Deliberately simple: one @, a local part without spaces, a domain of dot-separated labels ending in a
# top-level domain of at least two letters. Whether the address exists is for a confirmation mail.
_EMAIL_RE = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------


class FieldError(ValueError):
    """One field is wrong; ``str()`` gives the Dutch message, ``message_en`` the English one."""

    field: str
    message_nl: str
    message_en: str

    def __init__(self, field: str, message_nl: str, message_en: str) -> None:
        super().__init__(field, message_nl, message_en)
        self.field = field
        self.message_nl = message_nl
        self.message_en = message_en

    def __str__(self) -> str:
        return self.message_nl

    def message(self, lang: str = "nl") -> str:
        """Return the message in ``lang`` (``"nl"`` or ``"en"``; anything else gives Dutch)."""
        return self.message_en if lang == "en" else self.message_nl


class ValidationErrors(ValueError):
    """Several fields are wrong at once; ``errors`` maps each field (dotted path) to its error."""

    errors: dict[str, FieldError]

    def __init__(self, errors: Mapping[str, FieldError]) -> None:
        self.errors = dict(errors)
        super().__init__(self.errors)

    def messages(self, lang: str = "nl") -> dict[str, str]:
        """Return ``{field: message}`` in ``lang`` (``"nl"`` or ``"en"``), e.g. for a form."""
        return {name: error.message(lang) for name, error in self.errors.items()}

    def __str__(self) -> str:
        count = len(self.errors)
        head = "1 ongeldig veld" if count == 1 else f"{count} ongeldige velden"
        return f"{head}: " + "; ".join(error.message_nl for error in self.errors.values())


def _label(field: str) -> tuple[str, str]:
    """Return the (Dutch, English) words for a field name or a dotted ``scores.<module>[.<aspect>]`` path."""
    if field in _LABELS:
        return _LABELS[field]
    parts = field.split(".")
    if parts[0] == "scores" and len(parts) in (2, 3):
        module_nl, module_en = _MODULE_LABELS.get(parts[1], (parts[1], parts[1]))
        nl, en = f"Scores {module_nl}", f"Scores {module_en}"
        if len(parts) == 3:
            aspect_nl, aspect_en = _ASPECT_LABELS.get(parts[2], (parts[2], parts[2]))
            nl, en = f"{nl}, {aspect_nl}", f"{en}, {aspect_en}"
        return nl, en
    return field, field


def _error(field: str, what_nl: str, what_en: str) -> FieldError:
    """Build a FieldError whose messages start with the field's name in words."""
    label_nl, label_en = _label(field)
    return FieldError(field, f"{label_nl}: {what_nl}", f"{label_en}: {what_en}")


def _required(field: str) -> FieldError:
    return _error(field, "is verplicht.", "is required.")


def _require_text(field: str, value: object) -> str:
    """Return ``value`` when it is a non-blank string, else raise the field's 'required'/'text' error."""
    if value is None:
        raise _required(field)
    if not isinstance(value, str):
        raise _error(field, "moet tekst zijn.", "must be text.")
    if not value.strip():
        raise _required(field)
    return value


def _remove(value: str, characters: str) -> str:
    """Drop all whitespace and the given separator characters."""
    return "".join(ch for ch in value if not ch.isspace() and ch not in characters)


# --------------------------------------------------------------------------------------------------
# Enterprise number (KBO ondernemingsnummer)
# --------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------
# IBAN
# --------------------------------------------------------------------------------------------------


def _iban_country_length(country: str) -> int | None:
    """Return the IBAN length of ``country`` from stdnum's IBAN registry, or None when it has no IBAN."""
    info = _stdnum_numdb.get("iban").info(country)
    properties = info[0][1] if info and info[0][0] == country else {}
    structure = properties.get("bban")
    if not structure:
        return None
    return 4 + sum(int(size) for size, _kind in _BBAN_PART_RE.findall(structure))


def normalize_iban(value: str) -> str:
    """Return the IBAN compact and upper case, or raise FieldError("iban", ...).

    The checks, each with a message of its own: only letters and digits (after dropping spaces, dots and
    dashes); a known country; the length for that country (16 for Belgium); the ISO 13616 mod-97 check
    (check digits 02 to 98, as ISO 13616 computes them; stdnum alone would also let 00, 01 and 99 pass);
    the structure of the account part; and, for Belgium, the national check (first 10 digits of the
    account part mod 97, 0 meaning 97) and a known bank code (stdnum's bank table). Other national checks
    stdnum knows are applied too.
    """
    field = "iban"
    text = _require_text(field, value)
    number = _remove(text, ".-").upper()
    if not _IBAN_CHARS_RE.fullmatch(number):
        raise _error(
            field,
            "mag alleen letters en cijfers bevatten (spaties zijn toegestaan).",
            "may contain letters and digits only (spaces are allowed).",
        )
    if not _IBAN_HEAD_RE.match(number):
        raise _error(
            field,
            "moet beginnen met een landcode van 2 letters en 2 controlecijfers (bv. BE48 …).",
            "must start with a 2-letter country code and 2 check digits (e.g. BE48 …).",
        )
    country = number[:2]
    length = _iban_country_length(country)
    if length is None:
        raise _error(
            field,
            f"de landcode {country} heeft geen IBAN.",
            f"the country code {country} has no IBAN.",
        )
    if len(number) != length:
        raise _error(
            field,
            f"een {country}-IBAN telt {length} tekens, niet {len(number)}.",
            f"an IBAN of {country} has {length} characters, not {len(number)}.",
        )
    mod97_error = _error(
        field,
        "de controlecijfers kloppen niet (mod-97-controle); controleer het rekeningnummer.",
        "the check digits are wrong (mod-97 check); check the account number.",
    )
    try:
        _stdnum_iban.validate(number, check_country=False)
    except InvalidChecksum:
        raise mod97_error from None
    except ValidationError:  # InvalidFormat: the account part does not have the country's structure
        raise _error(
            field,
            f"het rekeningnummer na de controlecijfers heeft niet de opbouw van een {country}-IBAN.",
            f"the account part after the check digits does not have the structure of an IBAN of {country}.",
        ) from None
    if not 2 <= int(number[2:4]) <= 98:
        raise mod97_error
    if country == "BE":
        try:
            _stdnum_be_iban.validate(number)
        except InvalidChecksum:
            raise _error(
                field,
                "de Belgische controle klopt niet (de laatste twee cijfers); controleer het rekeningnummer.",
                "the Belgian national check (the last two digits) is wrong; check the account number.",
            ) from None
        except ValidationError:  # InvalidComponent: no bank has this bank code
            raise _error(
                field,
                f"de bankcode {number[4:7]} is aan geen enkele Belgische bank toegekend.",
                f"the bank code {number[4:7]} does not belong to any Belgian bank.",
            ) from None
    else:
        try:
            _stdnum_iban.validate(number, check_country=True)
        except ValidationError:
            raise _error(
                field,
                "de nationale controle van het rekeningnummer klopt niet.",
                "the national check of the account number is wrong.",
            ) from None
    return number


def format_iban(value: str) -> str:
    """Return a valid IBAN in groups of four, e.g. ``BE48 0011 2345 6727`` (FieldError when not valid)."""
    return str(_stdnum_iban.format(normalize_iban(value)))


# --------------------------------------------------------------------------------------------------
# BIC
# --------------------------------------------------------------------------------------------------


def normalize_bic(value: str) -> str:
    """Return the BIC upper case (8 or 11 characters), or raise FieldError("bic", ...).

    ISO 9362: 4 letters institution, 2 letters country (a known ISO 3166 code), 2 letters or digits
    location, optionally 3 letters or digits branch. ``GEBABEBBXX`` (10 characters) is not valid.
    """
    field = "bic"
    text = _require_text(field, value)
    code = _remove(text, "-").upper()
    if len(code) not in (8, 11):
        raise _error(
            field,
            f"moet 8 of 11 tekens tellen, niet {len(code)}.",
            f"must have 8 or 11 characters, not {len(code)}.",
        )
    if not re.fullmatch(r"[A-Z]{4}", code[:4]):
        raise _error(
            field,
            "de eerste 4 tekens (de bank) moeten letters zijn.",
            "the first 4 characters (the institution) must be letters.",
        )
    if not re.fullmatch(r"[A-Z]{2}", code[4:6]):
        raise _error(
            field,
            "tekens 5 en 6 (de landcode) moeten letters zijn.",
            "characters 5 and 6 (the country code) must be letters.",
        )
    if not re.fullmatch(r"[A-Z0-9]{2}", code[6:8]):
        raise _error(
            field,
            "tekens 7 en 8 (de plaats) moeten letters of cijfers zijn.",
            "characters 7 and 8 (the location) must be letters or digits.",
        )
    if not re.fullmatch(r"([A-Z0-9]{3})?", code[8:]):
        raise _error(
            field,
            "de laatste 3 tekens (het filiaal) moeten letters of cijfers zijn.",
            "the last 3 characters (the branch) must be letters or digits.",
        )
    try:
        _stdnum_bic.validate(code)
    except ValidationError:  # InvalidComponent: not an ISO 3166 country
        raise _error(
            field,
            f"{code[4:6]} is geen bestaande landcode.",
            f"{code[4:6]} is not a known country code.",
        ) from None
    return code


def check_bic_matches_iban(iban: str, bic: str) -> None:
    """Raise FieldError("bic", ...) when ``bic`` cannot be the BIC of the account ``iban``.

    Both are normalized first (so FieldError("iban"/"bic") for an invalid one). For a Belgian IBAN the
    bank code (digits 5-7) determines the bank, and stdnum's table gives its BIC: the first 8 characters
    of ``bic`` must equal the first 8 of that BIC (``GEBABEBBXXX`` belongs to ``GEBABEBB``). When the
    table knows no BIC for the bank code, and for any other IBAN, only the BIC's country letters must equal
    the IBAN's country.
    """
    account = normalize_iban(iban)
    code = normalize_bic(bic)
    country = account[:2]
    if country == "BE":
        info = _stdnum_be_iban.info(account)
        expected = info.get("bic")
        if expected:
            expected8 = str(expected)[:8]
            if code[:8] != expected8:
                bank = info.get("bank")
                bank_nl = f" ({bank})" if bank else ""
                raise _error(
                    "bic",
                    f"deze BIC hoort niet bij de bank van de IBAN; verwacht {expected8}{bank_nl}.",
                    f"this BIC does not belong to the bank of the IBAN; expected {expected8}{bank_nl}.",
                )
            return
    if code[4:6] != country:
        raise _error(
            "bic",
            f"de landcode van de BIC ({code[4:6]}) is niet die van de IBAN ({country}).",
            f"the BIC's country code ({code[4:6]}) is not the IBAN's ({country}).",
        )


# --------------------------------------------------------------------------------------------------
# Start of an application
# --------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------
# Audit report message
# --------------------------------------------------------------------------------------------------


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
