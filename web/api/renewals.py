"""Start a renewal for a provider's own case (message ``renewal_requested``), as the portal does."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from engine.errors import Conflict, Forbidden, MessageNotDelivered

from ..access import waits_for_renewal_audit
from .cases import load_case
from .core import PROVIDER, bp, caller, engine, json_body

MESSAGE = "renewal_requested"
NOT_WAITING = (
    "case {} does not wait for a renewal audit now: it has no registration yet, or one still in its "
    "provisional or conditional phase, or it has ended"
)


@bp.post("/cases/<int:instance_id>/renewal")
def request_renewal(instance_id: int) -> ResponseReturnValue:
    """Name the audit bureau for the renewal audit; a new request replaces an open one."""
    who = caller()
    who.require(PROVIDER)
    body = json_body()
    with engine().transaction() as db:
        detail = load_case(db, who, instance_id)
        if not who.is_staff and not who.owns(detail):
            raise Forbidden("only the provider of the case may request its renewal")
        if not waits_for_renewal_audit(detail):
            raise Conflict(NOT_WAITING.format(instance_id))
        payload = {
            "application_id": detail.business_key,
            "audit_bureau": body.get("audit_bureau"),
            "audit_hours": body.get("audit_hours"),
            "requested_by": who.username,
        }
        try:
            result = engine().message(db, MESSAGE, None, payload, actor=who.username)
        except MessageNotDelivered:
            raise Conflict(NOT_WAITING.format(instance_id)) from None
    return jsonify(result.to_dict())
