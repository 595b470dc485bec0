"""The API's blueprint, its bearer-token authentication, and the rights every route checks.

The API accepts only ``Authorization: Bearer <token>``: the browser's session cookie is ignored, so the
blueprint can be exempt from CSRF protection without letting another site act with a visitor's cookie.
A token belongs to a person; that person's roles apply (see ``tasks.people``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from sqlalchemy.orm import Session

from engine import clock
from engine.errors import Forbidden, InvalidInput
from engine.views import InstanceDetail
from tasks import people
from tasks.models import Organisation, Person
from web import access, auth

from . import callers

bp = Blueprint("api", __name__)

STAFF = frozenset(access.STAFF)
PROVIDER = "dienstverlener"
AUDITOR = "auditbureau"
PROVIDER_LANE = "Dienstverlener"
PUBLIC_ENDPOINTS = frozenset({"api.openapi"})
REALM = 'Bearer realm="kmop"'


@dataclass(frozen=True)
class Caller:
    """Who calls, as the token says: the person (detached), their roles and their organisation's keys."""

    person: Person
    roles: frozenset[str]
    enterprise_number: str | None
    audit_bureau_code: str | None

    @property
    def username(self) -> str:
        return self.person.username

    @property
    def is_staff(self) -> bool:
        return bool(self.roles & STAFF)

    def owns(self, detail: InstanceDetail) -> bool:
        """True when the case is one of the caller's own organisation's applications (provider side)."""
        return bool(
            self.roles & {PROVIDER, "lokale_beheerder"}
            and self.enterprise_number
            and detail.data.get("enterprise_number") == self.enterprise_number
        )

    def may_see(self, db: Session, detail: InstanceDetail) -> bool:
        return access.may_see(db, self.person, set(self.roles), detail)

    def may_act(self, db: Session, detail: InstanceDetail, lane: str | None) -> bool:
        """Staff act on every task; a provider on its own cases' tasks in the provider lane."""
        if self.is_staff:
            return True
        return PROVIDER in self.roles and lane == PROVIDER_LANE and self.owns(detail)

    def require(self, *roles: str) -> None:
        """403 unless the caller holds one of ``roles`` (or is staff)."""
        if not self.is_staff and not self.roles.intersection(roles):
            wanted = ", ".join(sorted({*roles, *STAFF}))
            raise Forbidden(f"this request needs one of the roles: {wanted}")


def engine() -> Any:
    return auth.engine()


def caller() -> Caller:
    """The authenticated caller of this request (set by ``authenticate``)."""
    found = g.get("api_caller")
    if not isinstance(found, Caller):  # pragma: no cover - every non-public route is authenticated
        raise Forbidden("no authenticated caller")
    return found


def unauthorized(message: str) -> Response:
    response = jsonify(error="Unauthorized", message=message)
    response.status_code = 401
    response.headers["WWW-Authenticate"] = REALM
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.before_request
def authenticate() -> Response | None:
    """Find the caller from the bearer token; answer 401 when there is none or it is not valid."""
    g.person, g.roles = None, set()  # never the person of the session cookie
    g.api_caller = None
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return unauthorized("this API needs a token: send the header 'Authorization: Bearer <token>'")
    now = clock.now()
    found = verified(token)
    if found is None:
        return unauthorized("the token is not valid (unknown, revoked, or its person is no longer active)")
    if found.last_used_at is None or now - found.last_used_at >= people.TOKEN_USE_RECORDED_EVERY:
        # In a transaction of its own: a request that reads writes nothing else, and this once a minute.
        with engine().transaction(write=True) as db:
            people.record_token_use(db, token, now)
        found.last_used_at = now
    person = found.detached_person()
    g.api_caller = Caller(person, found.roles, found.enterprise_number, found.audit_bureau_code)
    g.person, g.roles = person, set(found.roles)
    return None


def verified(token: str) -> callers.Verified | None:
    """The caller of ``token`` as this process verified it a moment ago, else as the database says."""
    kept: callers.Callers = current_app.extensions["kmop_api_callers"]
    key = callers.digest(token)
    found = kept.get(key)
    if found is not None:
        return found
    seen = callers.generation()  # before reading: a change committed meanwhile keeps this from being kept
    with engine().transaction() as db:
        row = people.token_of(db, token)
        person = db.get(Person, row.person_id) if row is not None else None
        if row is None or person is None or not person.active:
            return None
        org = db.get(Organisation, person.organisation_id)
        found = callers.Verified.of(person, frozenset(people.roles_of(db, person)), org, row)
    kept.keep(key, found, seen)
    return found


@bp.after_request
def no_store(response: Response) -> Response:
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def json_body() -> dict[str, Any]:
    """The request's JSON object, or 400."""
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # the parser's own limit: a body of thousands of nested arrays
        raise InvalidInput("the request body nests too deep to be read", "body") from None
    if not isinstance(body, dict):
        raise InvalidInput("the request body must be a JSON object (Content-Type: application/json)", "body")
    return body


def object_field(body: dict[str, Any], name: str) -> dict[str, Any]:
    """``body[name]`` as a JSON object ({} when absent), or 400."""
    value = body.get(name, {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"'{name}' must be a JSON object", name)
    return value
