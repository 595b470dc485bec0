"""Start applications, read cases, and list, read and complete the tasks the caller may act on."""

from __future__ import annotations

import re
from typing import Any

from flask import abort, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from engine import clock
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from engine.models import is_id
from engine.views import InstanceDetail, TaskView
from tasks.keys import key_in_use, new_application_key
from tasks.validation import FieldError, normalize_enterprise_number

from .. import access
from ..access import STAFF
from .core import PROVIDER, Caller, bp, caller, engine, json_body, object_field

# Processes a provider may start itself; staff may start any deployed process.
PROVIDER_PROCESSES = frozenset({"registration"})
# Personal data (GDPR) that an audit bureau does not need: removed wherever it occurs in what it sees.
PERSONAL_FIELDS = frozenset({"company_name", "email", "iban", "bic", "declared_by", "declarations"})
BUSINESS_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
MAX_CASES = 200


# ------------------------------------------------------------------------------------------- start


@bp.get("/processes/<key>/form")
def start_form(key: str) -> ResponseReturnValue:
    with engine().transaction() as db:
        name, schema = engine().start_form(db, key)
    return jsonify(process_key=key, form=name, schema=schema)


@bp.post("/processes/<key>/instances")
def start(key: str) -> ResponseReturnValue:
    who = caller()
    who.require(PROVIDER)
    body = json_body()
    data = object_field(body, "data")
    business_key = _business_key(body.get("business_key"))
    if not who.is_staff:
        _check_own_application(who, key, data)
    with engine().transaction() as db:
        if business_key is None:
            business_key = new_application_key(db, clock.now())
        elif key_in_use(db, business_key):
            raise Conflict(f"the business key '{business_key}' is already used by another case")
        summary = engine().start(db, key, data, business_key=business_key, actor=who.username)
    response = jsonify(summary.to_dict())
    response.status_code = 201
    response.headers["Location"] = url_for("api.case", instance_id=summary.id)
    return response


def _business_key(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not BUSINESS_KEY.fullmatch(value):
        raise InvalidInput(
            "business_key: 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit",
            "business_key",
        )
    return value


def _check_own_application(who: Caller, key: str, data: dict[str, Any]) -> None:
    """A provider applies for its own organisation only (an invalid number is the validator's to report)."""
    if key not in PROVIDER_PROCESSES:
        raise Forbidden(f"a provider cannot start the process '{key}'")
    value = data.get("enterprise_number")
    if not isinstance(value, str):
        return
    try:
        number = normalize_enterprise_number(value)
    except FieldError:
        return
    if number != who.enterprise_number:
        raise Forbidden("a provider can apply only for its own organisation's enterprise number")


# ------------------------------------------------------------------------------------------- cases


def summary(detail: InstanceDetail) -> dict[str, Any]:
    """A case in a list: what it is, where it stands."""
    return {
        "id": detail.id,
        "process_key": detail.process_key,
        "version": detail.version,
        "business_key": detail.business_key,
        "status": detail.status,
        "created_at": detail.created_at.isoformat(),
        "updated_at": detail.updated_at.isoformat(),
        "ended_at": detail.ended_at.isoformat() if detail.ended_at else None,
        "active_elements": detail.active_elements,
    }


@bp.get("/cases")
def cases() -> ResponseReturnValue:
    who = caller()
    status = request.args.get("status") or None
    process = request.args.get("process") or None
    limit = _limit(request.args.get("limit"))
    with engine().transaction() as db:
        details = access.visible_cases(
            db, engine(), who.person, set(who.roles), limit=limit, status=status, process_key=process
        )
        found = [summary(d) for d in details]
    return jsonify(cases=found)


def _limit(value: str | None) -> int:
    if value is None or value == "":
        return MAX_CASES
    if not value.isdecimal() or len(value) > 9 or not 1 <= int(value) <= MAX_CASES:
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_CASES}", "limit")
    return int(value)


def load_case(db: Session, who: Caller, instance_id: int) -> InstanceDetail:
    """The case, or 404 when it does not exist and 403 when the caller may not see it."""
    try:
        detail: InstanceDetail = engine().show(db, instance_id)
    except NotFound:
        abort(404, description=f"no case {instance_id}")
    if not who.may_see(db, detail):
        abort(403, description=f"you may not see case {instance_id}")
    return detail


@bp.get("/cases/<int:instance_id>")
def case(instance_id: int) -> ResponseReturnValue:
    who = caller()
    with engine().transaction() as db:
        detail = load_case(db, who, instance_id)
    result = detail.to_dict()
    if not who.is_staff and not who.owns(detail):  # sees it as the audit bureau: no personal data
        result = redact(result)
    return jsonify(result)


def redact(case: dict[str, Any]) -> dict[str, Any]:
    """The case as an audit bureau sees it: no personal data, no names of people, no incidents."""
    result = dict(case)
    result["data"] = _without_personal(case["data"])
    result["history"] = [
        {**entry, "actor": None, "detail": _without_personal(entry["detail"])} for entry in case["history"]
    ]
    result["ready_tasks"] = [
        {**task, "claimed_by": None, "completed_by": None} for task in case["ready_tasks"]
    ]
    result["incidents"] = []
    return result


def _without_personal(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_personal(v) for k, v in value.items() if k not in PERSONAL_FIELDS}
    if isinstance(value, list):
        return [_without_personal(v) for v in value]
    return value


# ------------------------------------------------------------------------------------------- tasks


@bp.get("/tasks")
def tasks() -> ResponseReturnValue:
    who = caller()
    case_id = request.args.get("case")
    if case_id is not None and not case_id.isdecimal():
        raise InvalidInput("case must be a case id (a whole number)", "case")
    if case_id and (len(case_id) > 12 or not is_id(int(case_id))):
        raise NotFound(f"no case {case_id}")
    with engine().transaction() as db:
        ready = engine().tasks(db, instance_id=int(case_id) if case_id else None)
        details: dict[int, InstanceDetail] = {}
        mine = []
        for task in ready:
            if not who.is_staff:
                if task.instance_id not in details:
                    details[task.instance_id] = engine().show(db, task.instance_id)
                if not who.may_act(db, details[task.instance_id], task.lane):
                    continue
            mine.append(task.to_dict())
    return jsonify(tasks=mine)


def load_task(db: Session, who: Caller, task_id: str) -> TaskView:
    """The task, or 404 when it does not exist and 403 when the caller may not act on it."""
    task: TaskView = engine().task(db, task_id)
    if who.is_staff:
        return task
    detail = engine().show(db, task.instance_id)
    if not who.may_see(db, detail):
        abort(403, description=f"task {task_id} belongs to a case you may not see")
    if not who.may_act(db, detail, task.lane):
        abort(403, description=f"task {task_id} is not yours to act on (lane: {task.lane or 'none'})")
    return task


@bp.get("/tasks/<task_id>")
def task(task_id: str) -> ResponseReturnValue:
    who = caller()
    with engine().transaction() as db:
        found = load_task(db, who, task_id)
        _, schema = engine().task_form(db, task_id)
    return jsonify({**found.to_dict(), "form_schema": schema})


@bp.post("/tasks/<task_id>/complete")
def complete(task_id: str) -> ResponseReturnValue:
    who = caller()
    data = object_field(json_body(), "data")
    with engine().transaction() as db:
        if not who.is_staff:  # staff act on every task; the engine answers 404 for one that is not there
            load_task(db, who, task_id)
        result = engine().complete(db, task_id, data, actor=who.username)
    return jsonify(task_id=task_id, status="completed", case=result.to_dict())


@bp.post("/tasks/<task_id>/claim")
def claim(task_id: str) -> ResponseReturnValue:
    """Take a task on (agency staff): others then cannot complete it until it is released."""
    who = caller()
    who.require(*STAFF)
    with engine().transaction() as db:
        load_task(db, who, task_id)
        view = engine().claim(db, task_id, who.username)
    return jsonify(view.to_dict())


@bp.post("/tasks/<task_id>/release")
def release(task_id: str) -> ResponseReturnValue:
    """Give a claimed task back: the one who claimed it, or an operator (role beheerder)."""
    who = caller()
    who.require(*STAFF)
    with engine().transaction() as db:
        load_task(db, who, task_id)
        view = engine().release(db, task_id, who.username, force="beheerder" in who.roles)
    return jsonify(view.to_dict())
