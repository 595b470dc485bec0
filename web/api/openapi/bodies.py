"""The request bodies of the description, built from what the handlers and their validators check.

The vocabulary comes from where the checks live: the business key's pattern from ``web.api.cases``, the
fields, modules, audit types and scores of an audit report from ``tasks.validation`` (the report is
validated by ``validate_audit_report``), the renewal's hours from ``tasks.renewal`` (the
``renewal_requested`` message contract). The application's fields mirror the registration's start form
(``bpmn/application.json``), which validates them; ``tests/web/test_openapi.py`` holds each body against
the schema or validator its handler uses.
"""

from __future__ import annotations

from tasks.renewal import MAX_HOURS
from tasks.validation import (
    AUDIT_MODULES,
    AUDIT_REPORT_FIELDS,
    AUDIT_TYPES,
    PROVIDER_TYPES,
    SCORE_ASPECTS,
    SCORES,
    SERVICES,
)

from ..cases import BUSINESS_KEY
from .schema import DATE, OPEN_OBJECT, Schema, enum, nullable, ref

APPLICATION: Schema = {
    "type": "object",
    "description": "Start data of a registration (data dictionary); validated by the start form.",
    "properties": {
        "enterprise_number": {"type": "string", "maxLength": 20, "examples": ["0566.988.259"]},
        "company_name": {"type": "string", "maxLength": 200},
        "email": {"type": "string", "format": "email", "maxLength": 200},
        "iban": {"type": "string", "maxLength": 42, "examples": ["BE48 0011 2345 6727"]},
        "bic": {"type": "string", "maxLength": 11, "examples": ["GEBABEBB"]},
        "services": {"type": "array", "items": enum(SERVICES), "minItems": 1, "uniqueItems": True},
        "provider_type": enum(PROVIDER_TYPES),
        "starter": {"type": "boolean"},
    },
    "required": ["enterprise_number", "company_name", "email", "iban", "bic", "services", "provider_type"],
}

START_REQUEST: Schema = {
    "type": "object",
    "properties": {
        "data": {
            "description": "the start form's fields (for 'registration': an Application)",
            "anyOf": [ref("Application"), OPEN_OBJECT],
        },
        "business_key": nullable(
            {
                "type": "string",
                "pattern": f"^{BUSINESS_KEY.pattern}$",
                "description": "the application id; one is made when absent",
            }
        ),
    },
    "required": ["data"],
}

COMPLETE_REQUEST: Schema = {
    "type": "object",
    "properties": {
        "data": {
            "type": "object",
            "description": "the fields of the task's form; fields the form does not have are ignored",
        }
    },
    "required": ["data"],
}

MODULE_SCORE: Schema = {
    "type": "object",
    "properties": {aspect: ref("Score") for aspect in SCORE_ASPECTS},
    "required": list(SCORE_ASPECTS),
}

AUDIT_REPORT: Schema = {
    "type": "object",
    "description": (
        "Message audit_report of the data dictionary, correlated by application_id; report_id makes "
        "delivery idempotent. A full audit scores every module, a limited one (starter) every module "
        "but experience and satisfaction, a follow-up any of them."
    ),
    "properties": {
        "application_id": {"type": "string", "minLength": 1},
        "report_id": {"type": "string", "minLength": 1},
        "audit_type": enum(AUDIT_TYPES),
        "scores": {
            "type": "object",
            "propertyNames": {"enum": list(AUDIT_MODULES)},
            "additionalProperties": ref("ModuleScore"),
            "minProperties": 1,
        },
        "follow_up_deadline": nullable(DATE),
    },
    "required": [name for name in AUDIT_REPORT_FIELDS if name != "follow_up_deadline"],
    "examples": [
        {
            "application_id": "APP-0001",
            "report_id": "DNV-2027-0042",
            "audit_type": "full",
            "scores": {m: {"conformity": "T", "demonstrability": "V"} for m in AUDIT_MODULES},
            "follow_up_deadline": None,
        }
    ],
}

RENEWAL_REQUEST: Schema = {
    "type": "object",
    "description": (
        "Message renewal_requested: the appointed audit bureau (code, e.g. kiwa) that does the renewal "
        "audit and the estimated hours (EUR 150 an hour)."
    ),
    "properties": {
        "audit_bureau": {"type": "string", "minLength": 1},
        "audit_hours": {"type": "integer", "minimum": 1, "maximum": MAX_HOURS},
    },
    "required": ["audit_bureau", "audit_hours"],
    "examples": [{"audit_bureau": "kiwa", "audit_hours": 12}],
}

BODIES: dict[str, Schema] = {
    "Application": APPLICATION,
    "StartRequest": START_REQUEST,
    "CompleteRequest": COMPLETE_REQUEST,
    "Score": enum(SCORES),
    "ModuleScore": MODULE_SCORE,
    "AuditReport": AUDIT_REPORT,
    "RenewalRequest": RENEWAL_REQUEST,
}
