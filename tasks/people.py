"""Keep people, organisations and their rights: who may apply, audit, decide or administer.

Roles follow domain.md: ``dienstverlener`` (the provider profile *DIENSTVERLENER KMO-PORTEFEUILLE* of the
right *VLAIO INKOM GEBRUIKER*), ``lokale_beheerder``, ``auditbureau``, ``vlaio``, ``analist``,
``beheerder``. A local administrator grants and revokes the provider profile to people of their own
organisation only.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from .models import ApiToken, Organisation, Person, RoleGrant

ROLES = ("dienstverlener", "lokale_beheerder", "auditbureau", "vlaio", "analist", "beheerder")
PROVIDER_PROFILE = "dienstverlener"


class RightsError(PermissionError):
    """A person tried to change rights they may not change."""


def create_organisation(
    session: Session,
    name: str,
    kind: str,
    enterprise_number: str | None = None,
    audit_bureau_code: str | None = None,
) -> Organisation:
    org = Organisation(
        name=name, kind=kind, enterprise_number=enterprise_number, audit_bureau_code=audit_bureau_code
    )
    session.add(org)
    session.flush()
    return org


def create_person(
    session: Session,
    *,
    username: str,
    name: str,
    email: str,
    password: str,
    organisation: Organisation,
    roles: tuple[str, ...] = (),
    now: datetime,
    language: str = "nl",
) -> Person:
    person = Person(
        username=username.strip().lower(),
        name=name,
        email=email,
        password_hash=generate_password_hash(password),
        organisation_id=organisation.id,
        language=language,
        active=True,
    )
    session.add(person)
    session.flush()
    for role in roles:
        _grant(session, person, role, None, now)
    return person


def authenticate(session: Session, username: str, password: str) -> Person | None:
    person = session.scalars(select(Person).where(Person.username == username.strip().lower())).first()
    if person is None or not person.active or not check_password_hash(person.password_hash, password):
        return None
    return person


def roles_of(session: Session, person: Person) -> set[str]:
    return set(session.scalars(select(RoleGrant.role).where(RoleGrant.person_id == person.id)))


def _grant(session: Session, person: Person, role: str, by: int | None, now: datetime) -> None:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    exists = session.scalar(
        select(RoleGrant.id).where(RoleGrant.person_id == person.id, RoleGrant.role == role)
    )
    if exists is None:
        session.add(RoleGrant(person_id=person.id, role=role, granted_by=by, granted_at=now))
        session.flush()


def grant_provider_profile(session: Session, admin: Person, person: Person, now: datetime) -> None:
    """The local administrator gives a colleague the provider profile (same organisation only)."""
    check_local_admin(session, admin, person)
    _grant(session, person, PROVIDER_PROFILE, admin.id, now)


def revoke_provider_profile(session: Session, admin: Person, person: Person) -> None:
    check_local_admin(session, admin, person)
    session.execute(
        delete(RoleGrant).where(RoleGrant.person_id == person.id, RoleGrant.role == PROVIDER_PROFILE)
    )


def check_local_admin(session: Session, admin: Person, person: Person) -> None:
    """Raise ``RightsError`` unless ``admin`` may grant or revoke ``person``'s provider profile."""
    if "lokale_beheerder" not in roles_of(session, admin):
        raise RightsError("only a local administrator can grant or revoke the provider profile")
    if admin.organisation_id != person.organisation_id:
        raise RightsError("a local administrator manages the people of their own organisation only")


def colleagues(session: Session, admin: Person) -> list[Person]:
    query = select(Person).where(Person.organisation_id == admin.organisation_id).order_by(Person.name)
    return list(session.scalars(query))


def issue_token(session: Session, person: Person, label: str, now: datetime) -> str:
    """Create an API token; the clear text is returned once and never stored."""
    token = "kmop_" + secrets.token_urlsafe(32)
    session.add(ApiToken(token_hash=_hash(token), person_id=person.id, label=label, created_at=now))
    session.flush()
    return token


def revoke_tokens(session: Session, person: Person, label: str | None = None) -> int:
    """Revoke a person's API tokens (all, or those with ``label``); return how many."""
    query = delete(ApiToken).where(ApiToken.person_id == person.id)
    if label is not None:
        query = query.where(ApiToken.label == label)
    return int(session.execute(query).rowcount or 0)  # type: ignore[attr-defined]


def tokens_of(session: Session, person: Person) -> list[ApiToken]:
    """A person's API tokens, newest first (their hashes only: the clear text is never kept)."""
    query = select(ApiToken).where(ApiToken.person_id == person.id).order_by(ApiToken.id.desc())
    return list(session.scalars(query))


def revoke_token(session: Session, person: Person, token_id: int) -> bool:
    """Revoke one of the person's own tokens; False when it is not theirs (or gone)."""
    query = delete(ApiToken).where(ApiToken.id == token_id, ApiToken.person_id == person.id)
    return bool(session.execute(query).rowcount)  # type: ignore[attr-defined]


def find_person(session: Session, username: str) -> Person | None:
    return session.scalars(select(Person).where(Person.username == username.strip().lower())).first()


TOKEN_USE_RECORDED_EVERY = timedelta(minutes=1)


def token_of(session: Session, token: str) -> ApiToken | None:
    """The stored token for this clear text (by its hash), or None."""
    return session.scalars(select(ApiToken).where(ApiToken.token_hash == _hash(token))).first()


def person_for_token(session: Session, token: str, now: datetime) -> Person | None:
    """The active person of a token; None for an unknown token or a person no longer active.

    Reads only: ``record_token_use`` notes when it was used, at most once a minute.
    """
    row = token_of(session, token)
    if row is None:
        return None
    person = session.get(Person, row.person_id)
    return person if person is not None and person.active else None


def token_use_is_stale(session: Session, token: str, now: datetime) -> bool:
    """True when the token's last use was recorded more than a minute ago (or never)."""
    row = token_of(session, token)
    return row is not None and (
        row.last_used_at is None or now - row.last_used_at >= TOKEN_USE_RECORDED_EVERY
    )


def record_token_use(session: Session, token: str, now: datetime) -> None:
    """Note that the token was used now (a write: the API does it at most once a minute per token)."""
    row = token_of(session, token)
    if row is not None:
        row.last_used_at = now


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
