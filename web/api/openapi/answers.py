"""The response bodies of the description: what the handlers answer, and the errors they answer with.

A registration's statuses come from ``web.api.registrations`` (which checks its ``status`` filter against
them), its services from ``tasks.validation``.
"""

from __future__ import annotations

from tasks.validation import SERVICES

from ..registrations import STATUSES
from .schema import DATE, DATE_TIME, JSON, OPEN_OBJECT, STRING, Schema, enum, nullable, ref

ANSWERS: dict[str, Schema] = {
    "Error": {
        "type": "object",
        "description": "Every error answer: a type, a message for people, and the wrong field(s) if any.",
        "properties": {
            "error": {"type": "string", "description": "kind of error, e.g. FormErrors, Forbidden"},
            "message": {"type": "string"},
            "field": {"type": "string", "description": "the (first) wrong field"},
            "errors": {
                "type": "object",
                "description": "a message per wrong field (dotted paths, e.g. scores.activity.conformity)",
                "additionalProperties": {"type": "string"},
            },
        },
        "required": ["error", "message"],
    },
    "StartForm": {
        "type": "object",
        "properties": {
            "process_key": STRING,
            "form": nullable(STRING),
            "schema": nullable({"type": "object", "description": "JSON Schema of the start form"}),
        },
        "required": ["process_key", "form", "schema"],
    },
    "InstanceSummary": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "process_key": STRING,
            "version": {"type": "integer"},
            "business_key": nullable(STRING),
            "status": STRING,
            "created_at": DATE_TIME,
            "updated_at": DATE_TIME,
            "ended_at": nullable(DATE_TIME),
            "waiting_at": {"type": "array", "items": STRING},
        },
        "required": ["id", "process_key", "version", "business_key", "status", "created_at"],
    },
    "CaseSummary": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "process_key": STRING,
            "version": {"type": "integer"},
            "business_key": nullable(STRING),
            "status": STRING,
            "created_at": DATE_TIME,
            "updated_at": DATE_TIME,
            "ended_at": nullable(DATE_TIME),
            "active_elements": {"type": "array", "items": STRING},
        },
        "required": ["id", "process_key", "business_key", "status", "active_elements"],
    },
    "CaseList": {
        "type": "object",
        "properties": {"cases": {"type": "array", "items": ref("CaseSummary")}},
        "required": ["cases"],
    },
    "Task": {
        "type": "object",
        "properties": {
            "id": STRING,
            "instance_id": {"type": "integer"},
            "process_key": STRING,
            "business_key": nullable(STRING),
            "element_id": STRING,
            "name": STRING,
            "lane": nullable(STRING),
            "form": nullable(STRING),
            "status": {"type": "string", "enum": ["ready", "completed", "cancelled"]},
            "created_at": DATE_TIME,
            "due_at": nullable(DATE_TIME),
            "overdue": {"type": "boolean"},
            "claimed_by": nullable(STRING),
            "completed_by": nullable(STRING),
            "completed_at": nullable(DATE_TIME),
        },
        "required": ["id", "instance_id", "element_id", "name", "status"],
    },
    "TaskWithForm": {
        "allOf": [
            ref("Task"),
            {
                "type": "object",
                "properties": {
                    "form_schema": nullable({"type": "object", "description": "JSON Schema of the form"})
                },
                "required": ["form_schema"],
            },
        ]
    },
    "TaskList": {
        "type": "object",
        "properties": {"tasks": {"type": "array", "items": ref("Task")}},
        "required": ["tasks"],
    },
    "CompleteResult": {
        "type": "object",
        "properties": {
            "task_id": STRING,
            "status": {"const": "completed"},
            "case": ref("InstanceSummary"),
        },
        "required": ["task_id", "status", "case"],
    },
    "CaseDetail": {
        "type": "object",
        "description": "A case; for an audit bureau without company_name, email, iban, bic, declared_by.",
        "properties": {
            "id": {"type": "integer"},
            "process_key": STRING,
            "version": {"type": "integer"},
            "business_key": nullable(STRING),
            "status": STRING,
            "created_at": DATE_TIME,
            "updated_at": DATE_TIME,
            "ended_at": nullable(DATE_TIME),
            "data": {"type": "object", "description": "process data, keys of the data dictionary"},
            "ready_tasks": {"type": "array", "items": ref("Task")},
            "timers": {"type": "array", "items": OPEN_OBJECT},
            "subscriptions": {"type": "array", "items": OPEN_OBJECT},
            "incidents": {"type": "array", "items": OPEN_OBJECT},
            "history": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "at": DATE_TIME,
                        "actor": nullable(STRING),
                        "event": STRING,
                        "element_id": nullable(STRING),
                        "detail": {"type": "object"},
                    },
                    "required": ["at", "event"],
                },
            },
            "active_elements": {"type": "array", "items": STRING},
            "completed_elements": {"type": "array", "items": STRING},
        },
        "required": ["id", "process_key", "business_key", "status", "data", "ready_tasks", "history"],
    },
    "MessageResult": {
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["delivered", "duplicate", "buffered"]},
            "message_name": STRING,
            "correlation_key": nullable(STRING),
            "instance_id": nullable({"type": "integer"}),
            "detail": STRING,
        },
        "required": ["status", "message_name", "correlation_key", "instance_id", "detail"],
    },
    "RegistrationChange": {
        "type": "object",
        "properties": {
            "date": DATE,
            "at": DATE_TIME,
            "status": STRING,
            "valid_from": DATE,
            "valid_until": DATE,
            "reason": STRING,
        },
        "required": ["date", "status", "valid_from", "valid_until", "reason"],
    },
    "Period": {
        "type": "object",
        "description": "A period of validity, from its first day up to its end date.",
        "properties": {"valid_from": DATE, "valid_until": DATE},
        "required": ["valid_from", "valid_until"],
    },
    "Registration": {
        "type": "object",
        "description": "A registry record (public data); history only when one registration is asked for.",
        "properties": {
            "registration_number": {"type": "string", "pattern": "^DV\\.[OA][0-9]{6}$"},
            "enterprise_number": {"type": "string", "pattern": "^[01][0-9]{9}$"},
            "company_name": STRING,
            "service": enum(SERVICES),
            "status": enum(STATUSES),
            "valid_from": {**DATE, "description": "Start of the latest period (after a renewal: the next)."},
            "valid_until": {**DATE, "description": "End of the latest period: the registration runs to it."},
            "current_period": {
                **ref("Period"),
                "description": "The period the registration is in today (stopped or expired: its last).",
            },
            "next_period": nullable(
                {**ref("Period"), "description": "The renewed period that follows the current one."}
            ),
            "history": {"type": "array", "items": ref("RegistrationChange")},
        },
        "required": [
            "registration_number",
            "enterprise_number",
            "company_name",
            "service",
            "status",
            "valid_from",
            "valid_until",
            "current_period",
            "next_period",
        ],
    },
    "RegistrationList": {
        "type": "object",
        "properties": {"registrations": {"type": "array", "items": ref("Registration")}},
        "required": ["registrations"],
    },
}

# Each error status: the name of its response in the components, and what it means.
ERRORS = {
    "400": ("BadRequest", "Invalid input; `errors` gives a message per wrong field."),
    "401": ("Unauthorized", "No token, or not a valid one."),
    "403": ("Forbidden", "The caller's roles do not allow this, or the case is not theirs."),
    "404": ("NotFound", "No such case, task, process or registration."),
    "409": ("Conflict", "The state no longer allows it (e.g. the task was already completed)."),
}

ERROR_RESPONSES: dict[str, Schema] = {
    name: {"description": text, "content": {JSON: {"schema": ref("Error")}}} for name, text in ERRORS.values()
}
