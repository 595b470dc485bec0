"""The errors of :mod:`tasks.validation` and the helpers that word their messages.

Every message starts with the field's name in words, in Dutch (``message_nl``) and English
(``message_en``). Shared by the other sub-modules of :mod:`tasks.validation`; imports none of them.
"""

from __future__ import annotations

from collections.abc import Mapping

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
