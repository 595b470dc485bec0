"""Hide a case's personal data from those who may see the case but not the person behind it.

Staff and the case's own provider see everything; an auditor sees the case without the company's name,
e-mail address, bank details and who signed the declaration of honour. Technical error messages
(in the history of a failed service) are for staff only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from tasks.models import Person
from web.access import STAFF, organisation_of

PERSONAL = frozenset({"company_name", "email", "iban", "bic", "declared_by", "declarations"})
TECHNICAL = frozenset({"error"})
PROVIDER_ROLES = frozenset({"dienstverlener", "lokale_beheerder"})


def shows_personal_data(db: Session, person: Person | None, roles: set[str], data: dict[str, Any]) -> bool:
    """True for staff, and for a provider-side person of the organisation the case is about."""
    if person is None:
        return False
    if roles & STAFF:
        return True
    if not roles & PROVIDER_ROLES:
        return False
    org = organisation_of(db, person)
    return bool(org.enterprise_number) and data.get("enterprise_number") == org.enterprise_number


def hidden_fields(personal: bool, staff: bool) -> frozenset[str]:
    """The field names to hide from someone who may (not) see personal data and is (not) staff."""
    return (frozenset() if personal else PERSONAL) | (frozenset() if staff else TECHNICAL)


def redact(value: Any, hidden: frozenset[str], mask: str) -> Any:
    """``value`` with every field named in ``hidden``, at any depth, replaced by ``mask``."""
    if not hidden:
        return value
    if isinstance(value, dict):
        return {k: mask if k in hidden else redact(v, hidden, mask) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, hidden, mask) for v in value]
    return value
