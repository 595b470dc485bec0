"""The vocabulary of the data dictionary (``domain.md``): the allowed values and field names.

Shared by the sub-modules of :mod:`tasks.validation`; imports none of them.
"""

from __future__ import annotations

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
