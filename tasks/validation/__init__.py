"""Validate and normalize the data of kmo-portefeuille applications and audit reports.

The rules come from ``domain.md`` ("Conditions to register", "Validation rules", "Data dictionary").
The arithmetic is python-stdnum's (enterprise number, IBAN with the Belgian national check and the
Belgian bank-code-to-BIC table, BIC); this package adds the few checks where the domain is stricter than
the library, and turns the library's exceptions into messages that name the field and what is wrong, in
Dutch first (``message_nl``) with English available (``message_en``).

Messages never repeat an account number, e-mail address, name or enterprise number (personal data, and
error messages end up in logs); at most a country or bank code, a length, or the value that was expected.

Nothing here makes a business decision: :func:`summarize_scores` prepares the inputs of the audit-outcome
DMN table, the policy itself lives in that table.

The sub-modules, each importing only those listed before it:

- :mod:`.vocabulary`: the data dictionary's allowed values and field names;
- :mod:`.errors`: FieldError, ValidationErrors and the wording of messages;
- :mod:`.enterprise_number`: the KBO enterprise number;
- :mod:`.bank`: IBAN, BIC and whether a BIC belongs to an IBAN;
- :mod:`.application`: the start of an application (:func:`validate_application`);
- :mod:`.audit`: the audit report (:func:`validate_audit_report`, :func:`summarize_scores`).

Import the public names from ``tasks.validation`` itself; the split into sub-modules is not an API.
"""

from __future__ import annotations

from .application import validate_application
from .audit import summarize_scores, validate_audit_report
from .bank import check_bic_matches_iban, format_iban, normalize_bic, normalize_iban
from .enterprise_number import format_enterprise_number, normalize_enterprise_number
from .errors import FieldError, ValidationErrors
from .vocabulary import (
    APPLICATION_FIELDS,
    AUDIT_MODULES,
    AUDIT_REPORT_FIELDS,
    AUDIT_TYPES,
    PROVIDER_TYPES,
    SCORE_ASPECTS,
    SCORES,
    SERVICES,
    STARTER_EXEMPT,
)

# Public in the old single module but not in ``__all__``: still importable from here, still not in ``*``.
from .vocabulary import COMPANY_NAME_MAX as COMPANY_NAME_MAX
from .vocabulary import EMAIL_MAX as EMAIL_MAX

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
