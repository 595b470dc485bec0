"""Describe the API as an OpenAPI 3.1 document (served at ``/api/v1/openapi.json`` without a token)."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask.typing import ResponseReturnValue

from tasks.validation import AUDIT_MODULES

from .core import bp

PREFIX = "/api/v1"
JSON = "application/json"

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


_DATE_TIME: Schema = {"type": "string", "format": "date-time"}
_DATE: Schema = {"type": "string", "format": "date"}
_STRING: Schema = {"type": "string"}
_OPEN_OBJECT: Schema = {"type": "object", "additionalProperties": True}

SCHEMAS: dict[str, Schema] = {
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
    "Application": {
        "type": "object",
        "description": "Start data of a registration (data dictionary); validated by the start form.",
        "properties": {
            "enterprise_number": {"type": "string", "examples": ["0566.988.259"]},
            "company_name": _STRING,
            "email": {"type": "string", "format": "email"},
            "iban": {"type": "string", "examples": ["BE48 0011 2345 6727"]},
            "bic": {"type": "string", "examples": ["GEBABEBB"]},
            "services": {
                "type": "array",
                "items": {"type": "string", "enum": ["training", "advice"]},
                "minItems": 1,
                "uniqueItems": True,
            },
            "provider_type": {"type": "string", "enum": ["private", "public"]},
            "starter": {"type": "boolean"},
        },
        "required": [
            "enterprise_number",
            "company_name",
            "email",
            "iban",
            "bic",
            "services",
            "provider_type",
        ],
    },
    "StartRequest": {
        "type": "object",
        "properties": {
            "data": {
                "description": "the start form's fields (for 'registration': an Application)",
                "anyOf": [_ref("Application"), _OPEN_OBJECT],
            },
            "business_key": _nullable(
                {
                    "type": "string",
                    "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$",
                    "description": "the application id; one is made when absent",
                }
            ),
        },
        "required": ["data"],
    },
    "StartForm": {
        "type": "object",
        "properties": {
            "process_key": _STRING,
            "form": _nullable(_STRING),
            "schema": _nullable({"type": "object", "description": "JSON Schema of the start form"}),
        },
        "required": ["process_key", "form", "schema"],
    },
    "InstanceSummary": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "process_key": _STRING,
            "version": {"type": "integer"},
            "business_key": _nullable(_STRING),
            "status": _STRING,
            "created_at": _DATE_TIME,
            "updated_at": _DATE_TIME,
            "ended_at": _nullable(_DATE_TIME),
            "waiting_at": {"type": "array", "items": _STRING},
        },
        "required": ["id", "process_key", "version", "business_key", "status", "created_at"],
    },
    "CaseSummary": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "process_key": _STRING,
            "version": {"type": "integer"},
            "business_key": _nullable(_STRING),
            "status": _STRING,
            "created_at": _DATE_TIME,
            "updated_at": _DATE_TIME,
            "ended_at": _nullable(_DATE_TIME),
            "active_elements": {"type": "array", "items": _STRING},
        },
        "required": ["id", "process_key", "business_key", "status", "active_elements"],
    },
    "CaseList": {
        "type": "object",
        "properties": {"cases": {"type": "array", "items": _ref("CaseSummary")}},
        "required": ["cases"],
    },
    "Task": {
        "type": "object",
        "properties": {
            "id": _STRING,
            "instance_id": {"type": "integer"},
            "process_key": _STRING,
            "business_key": _nullable(_STRING),
            "element_id": _STRING,
            "name": _STRING,
            "lane": _nullable(_STRING),
            "form": _nullable(_STRING),
            "status": {"type": "string", "enum": ["ready", "completed", "cancelled"]},
            "created_at": _DATE_TIME,
            "due_at": _nullable(_DATE_TIME),
            "overdue": {"type": "boolean"},
            "claimed_by": _nullable(_STRING),
            "completed_by": _nullable(_STRING),
            "completed_at": _nullable(_DATE_TIME),
        },
        "required": ["id", "instance_id", "element_id", "name", "status"],
    },
    "TaskWithForm": {
        "allOf": [
            _ref("Task"),
            {
                "type": "object",
                "properties": {
                    "form_schema": _nullable({"type": "object", "description": "JSON Schema of the form"})
                },
                "required": ["form_schema"],
            },
        ]
    },
    "TaskList": {
        "type": "object",
        "properties": {"tasks": {"type": "array", "items": _ref("Task")}},
        "required": ["tasks"],
    },
    "CompleteRequest": {
        "type": "object",
        "properties": {
            "data": {
                "type": "object",
                "description": "the fields of the task's form; fields the form does not have are ignored",
            }
        },
        "required": ["data"],
    },
    "CompleteResult": {
        "type": "object",
        "properties": {
            "task_id": _STRING,
            "status": {"const": "completed"},
            "case": _ref("InstanceSummary"),
        },
        "required": ["task_id", "status", "case"],
    },
    "CaseDetail": {
        "type": "object",
        "description": "A case; for an audit bureau without company_name, email, iban, bic, declared_by.",
        "properties": {
            "id": {"type": "integer"},
            "process_key": _STRING,
            "version": {"type": "integer"},
            "business_key": _nullable(_STRING),
            "status": _STRING,
            "created_at": _DATE_TIME,
            "updated_at": _DATE_TIME,
            "ended_at": _nullable(_DATE_TIME),
            "data": {"type": "object", "description": "process data, keys of the data dictionary"},
            "ready_tasks": {"type": "array", "items": _ref("Task")},
            "timers": {"type": "array", "items": _OPEN_OBJECT},
            "subscriptions": {"type": "array", "items": _OPEN_OBJECT},
            "incidents": {"type": "array", "items": _OPEN_OBJECT},
            "history": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "at": _DATE_TIME,
                        "actor": _nullable(_STRING),
                        "event": _STRING,
                        "element_id": _nullable(_STRING),
                        "detail": {"type": "object"},
                    },
                    "required": ["at", "event"],
                },
            },
            "active_elements": {"type": "array", "items": _STRING},
            "completed_elements": {"type": "array", "items": _STRING},
        },
        "required": ["id", "process_key", "business_key", "status", "data", "ready_tasks", "history"],
    },
    "Score": {"type": "string", "enum": ["B", "G", "T", "V"]},
    "ModuleScore": {
        "type": "object",
        "properties": {"conformity": _ref("Score"), "demonstrability": _ref("Score")},
        "required": ["conformity", "demonstrability"],
    },
    "AuditReport": {
        "type": "object",
        "description": (
            "Message audit_report of the data dictionary, correlated by application_id; report_id makes "
            "delivery idempotent. A full audit scores every module, a limited one (starter) every module "
            "but experience and satisfaction, a follow-up any of them."
        ),
        "properties": {
            "application_id": {"type": "string", "minLength": 1},
            "report_id": {"type": "string", "minLength": 1},
            "audit_type": {"type": "string", "enum": ["full", "limited", "follow_up"]},
            "scores": {
                "type": "object",
                "propertyNames": {"enum": list(AUDIT_MODULES)},
                "additionalProperties": _ref("ModuleScore"),
                "minProperties": 1,
            },
            "follow_up_deadline": _nullable(_DATE),
        },
        "required": ["application_id", "report_id", "audit_type", "scores"],
        "examples": [
            {
                "application_id": "APP-0001",
                "report_id": "DNV-2027-0042",
                "audit_type": "full",
                "scores": {m: {"conformity": "T", "demonstrability": "V"} for m in AUDIT_MODULES},
                "follow_up_deadline": None,
            }
        ],
    },
    "RenewalRequest": {
        "type": "object",
        "description": (
            "Message renewal_requested: the appointed audit bureau (code, e.g. kiwa) that does the renewal "
            "audit and the estimated hours (EUR 150 an hour)."
        ),
        "properties": {
            "audit_bureau": {"type": "string", "minLength": 1},
            "audit_hours": {"type": "integer", "minimum": 1, "maximum": 80},
        },
        "required": ["audit_bureau", "audit_hours"],
        "examples": [{"audit_bureau": "kiwa", "audit_hours": 12}],
    },
    "MessageResult": {
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["delivered", "duplicate", "buffered"]},
            "message_name": _STRING,
            "correlation_key": _nullable(_STRING),
            "instance_id": _nullable({"type": "integer"}),
            "detail": _STRING,
        },
        "required": ["status", "message_name", "correlation_key", "instance_id", "detail"],
    },
    "RegistrationChange": {
        "type": "object",
        "properties": {
            "date": _DATE,
            "at": _DATE_TIME,
            "status": _STRING,
            "valid_from": _DATE,
            "valid_until": _DATE,
            "reason": _STRING,
        },
        "required": ["date", "status", "valid_from", "valid_until", "reason"],
    },
    "Registration": {
        "type": "object",
        "description": "A registry record (public data); history only when one registration is asked for.",
        "properties": {
            "registration_number": {"type": "string", "pattern": "^DV\\.[OA][0-9]{6}$"},
            "enterprise_number": {"type": "string", "pattern": "^[01][0-9]{9}$"},
            "company_name": _STRING,
            "service": {"type": "string", "enum": ["training", "advice"]},
            "status": {
                "type": "string",
                "enum": ["provisional", "conditional", "active", "stopped", "expired"],
            },
            "valid_from": _DATE,
            "valid_until": _DATE,
            "history": {"type": "array", "items": _ref("RegistrationChange")},
        },
        "required": [
            "registration_number",
            "enterprise_number",
            "company_name",
            "service",
            "status",
            "valid_from",
            "valid_until",
        ],
    },
    "RegistrationList": {
        "type": "object",
        "properties": {"registrations": {"type": "array", "items": _ref("Registration")}},
        "required": ["registrations"],
    },
}

_ERRORS = {
    "400": ("BadRequest", "Invalid input; `errors` gives a message per wrong field."),
    "401": ("Unauthorized", "No token, or not a valid one."),
    "403": ("Forbidden", "The caller's roles do not allow this, or the case is not theirs."),
    "404": ("NotFound", "No such case, task, process or registration."),
    "409": ("Conflict", "The state no longer allows it (e.g. the task was already completed)."),
}


def _ok(schema: str, description: str, status: str = "200") -> dict[str, Any]:
    return {status: {"description": description, "content": {JSON: {"schema": _ref(schema)}}}}


def _errors(*codes: str) -> dict[str, Any]:
    return {code: {"$ref": f"#/components/responses/{_ERRORS[code][0]}"} for code in ("401", *codes)}


def _body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": _ref(schema)}}}


def _path_param(name: str, kind: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": kind},
    }


def _query(name: str, description: str, schema: Schema | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or _STRING,
    }


_CASE_ID = _path_param("instance_id", "integer", "the case (process instance) id")
_TASK_ID = _path_param("task_id", "string", "the task id")
_PROCESS = _path_param("key", "string", "the process key, e.g. registration")

PATHS: dict[str, Any] = {
    "/processes/{key}/form": {
        "get": {
            "operationId": "startForm",
            "summary": "The start form (JSON Schema) of the latest version of a process",
            "parameters": [_PROCESS],
            "responses": {**_ok("StartForm", "the form"), **_errors("404")},
        }
    },
    "/processes/{key}/instances": {
        "post": {
            "operationId": "start",
            "summary": "Start a case (a provider: a registration for its own organisation)",
            "parameters": [_PROCESS],
            "requestBody": _body("StartRequest"),
            "responses": {
                **_ok("InstanceSummary", "started; Location names the case", "201"),
                **_errors("400", "403", "404", "409"),
            },
        }
    },
    "/cases": {
        "get": {
            "operationId": "listCases",
            "summary": "The cases the caller may see, newest first",
            "parameters": [
                _query("status", "only cases with this status (running, waiting, completed, ...)"),
                _query("process", "only cases of this process key"),
                _query(
                    "limit", "at most this many (1-200)", {"type": "integer", "minimum": 1, "maximum": 200}
                ),
            ],
            "responses": {**_ok("CaseList", "the cases"), **_errors("400")},
        }
    },
    "/cases/{instance_id}": {
        "get": {
            "operationId": "getCase",
            "summary": "One case: data, ready tasks, timers, history (no personal data for an audit bureau)",
            "parameters": [_CASE_ID],
            "responses": {**_ok("CaseDetail", "the case"), **_errors("403", "404")},
        }
    },
    "/cases/{instance_id}/renewal": {
        "post": {
            "operationId": "requestRenewal",
            "summary": "Request the renewal of a case's registrations, naming the renewal audit's bureau",
            "description": (
                "Role dienstverlener, for the caller's own case (or agency staff). Only while the case waits "
                "for its renewal audit (409 otherwise); a new request replaces an open one, and that "
                "bureau's auditors may then see the case and send the audit_report."
            ),
            "parameters": [_CASE_ID],
            "requestBody": _body("RenewalRequest"),
            "responses": {**_ok("MessageResult", "recorded"), **_errors("400", "403", "404", "409")},
        }
    },
    "/tasks": {
        "get": {
            "operationId": "listTasks",
            "summary": "Ready tasks the caller may act on (staff: all; a provider: its own provider tasks)",
            "parameters": [_query("case", "only tasks of this case", {"type": "integer"})],
            "responses": {**_ok("TaskList", "the tasks"), **_errors("400")},
        }
    },
    "/tasks/{task_id}": {
        "get": {
            "operationId": "getTask",
            "summary": "One task with the JSON Schema of its form",
            "parameters": [_TASK_ID],
            "responses": {**_ok("TaskWithForm", "the task"), **_errors("403", "404")},
        }
    },
    "/tasks/{task_id}/complete": {
        "post": {
            "operationId": "completeTask",
            "summary": "Complete a ready task with the fields of its form",
            "parameters": [_TASK_ID],
            "requestBody": _body("CompleteRequest"),
            "responses": {**_ok("CompleteResult", "completed"), **_errors("400", "403", "404", "409")},
        }
    },
    "/tasks/{task_id}/claim": {
        "post": {
            "operationId": "claimTask",
            "summary": "Take a task on (agency staff); someone else's claim answers 409",
            "parameters": [_TASK_ID],
            "responses": {**_ok("Task", "claimed"), **_errors("403", "404", "409")},
        }
    },
    "/tasks/{task_id}/release": {
        "post": {
            "operationId": "releaseTask",
            "summary": "Give a claimed task back (the one who claimed it, or an operator)",
            "parameters": [_TASK_ID],
            "responses": {**_ok("Task", "released"), **_errors("403", "404", "409")},
        }
    },
    "/messages/audit_report": {
        "post": {
            "operationId": "sendAuditReport",
            "summary": "An audit bureau sends its report for an application assigned to it",
            "description": (
                "Role auditbureau (or agency staff); the application's audit must be assigned to the "
                "caller's bureau. The same report_id again answers 200 with status 'duplicate'."
            ),
            "requestBody": _body("AuditReport"),
            "responses": {
                **_ok("MessageResult", "delivered, or a duplicate of a report already accepted"),
                **_ok("MessageResult", "kept until the case waits for it", "202"),
                **_errors("400", "403", "404"),
            },
        }
    },
    "/registrations": {
        "get": {
            "operationId": "listRegistrations",
            "summary": "The register of providers (public data)",
            "parameters": [
                _query(
                    "status",
                    "only registrations with this status",
                    {
                        "type": "string",
                        "enum": ["provisional", "conditional", "active", "stopped", "expired"],
                    },
                )
            ],
            "responses": {**_ok("RegistrationList", "the registrations"), **_errors("400")},
        }
    },
    "/registrations/{number}": {
        "get": {
            "operationId": "getRegistration",
            "summary": "One registration with its history",
            "parameters": [_path_param("number", "string", "the registration number, e.g. DV.O000001")],
            "responses": {**_ok("Registration", "the registration"), **_errors("404")},
        }
    },
    "/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "This document",
            "security": [],
            "responses": {"200": {"description": "the OpenAPI document", "content": {JSON: {"schema": {}}}}},
        }
    },
}


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API."""
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "kmop API",
            "version": "1.0.0",
            "description": (
                "Registration of kmo-portefeuille service providers: start applications, follow cases, "
                "complete tasks, send audit reports, read the register. Authenticate with "
                "'Authorization: Bearer <token>'; the token's person and roles apply. Dates are ISO 8601."
            ),
        },
        "servers": [{"url": PREFIX}],
        "security": [{"bearerAuth": []}],
        "paths": PATHS,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "kmop_<random>",
                    "description": "an API token issued to a person; that person's roles apply",
                }
            },
            "schemas": SCHEMAS,
            "responses": {
                name: {"description": text, "content": {JSON: {"schema": _ref("Error")}}}
                for name, text in _ERRORS.values()
            },
        },
    }


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(document())
