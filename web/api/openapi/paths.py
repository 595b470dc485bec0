"""The paths of the description: each route of the API, its parameters, request body and answers.

The ``limit`` of the case list and the ``status`` filter of the register come from the handlers' modules
that check them.
"""

from __future__ import annotations

from typing import Any

from engine.models import MAX_ID

from ..cases import MAX_CASES
from ..registrations import STATUSES
from .answers import ERRORS
from .schema import JSON, STRING, Schema, enum, ref


def _ok(schema: str, description: str, status: str = "200") -> dict[str, Any]:
    return {status: {"description": description, "content": {JSON: {"schema": ref(schema)}}}}


def _errors(*codes: str) -> dict[str, Any]:
    return {code: {"$ref": f"#/components/responses/{ERRORS[code][0]}"} for code in ("401", *codes)}


def _body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": ref(schema)}}}


ROW_ID: Schema = {"type": "integer", "minimum": 1, "maximum": MAX_ID}  # web.RowId: any other is a 404


def _path_param(name: str, kind: str | Schema, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": kind} if isinstance(kind, str) else kind,
    }


def _query(name: str, description: str, schema: Schema | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or STRING,
    }


_CASE_ID = _path_param("instance_id", ROW_ID, "the case (process instance) id")
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
                    "limit",
                    f"at most this many (1-{MAX_CASES})",
                    {"type": "integer", "minimum": 1, "maximum": MAX_CASES},
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
            "parameters": [_query("case", "only tasks of this case (404 when there is none)", ROW_ID)],
            "responses": {**_ok("TaskList", "the tasks"), **_errors("400", "404")},
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
                _query("status", "only registrations with this status", enum(STATUSES)),
            ],
            "responses": {**_ok("RegistrationList", "the registrations"), **_errors("400")},
        }
    },
    "/registrations/{number}": {
        "get": {
            "operationId": "getRegistration",
            "summary": "One registration with its current and next period and its history",
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
