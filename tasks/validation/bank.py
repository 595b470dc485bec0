"""Bank account: IBAN (with the Belgian national check and bank codes), BIC, and whether they match."""

from __future__ import annotations

import re

from stdnum import bic as _stdnum_bic
from stdnum import iban as _stdnum_iban
from stdnum import numdb as _stdnum_numdb
from stdnum.be import iban as _stdnum_be_iban
from stdnum.exceptions import InvalidChecksum, ValidationError

from .errors import _error, _remove, _require_text

_IBAN_CHARS_RE = re.compile(r"[A-Z0-9]*")
_IBAN_HEAD_RE = re.compile(r"[A-Z]{2}[0-9]{2}")
_BBAN_PART_RE = re.compile(r"([1-9][0-9]*)!([nac])")


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
