"""Invite a colleague: a local administrator makes an account for a name and e-mail address of their own
organisation, with or without the provider profile. The account stays inactive until the person sets a
password through the link in the invitation e-mail; the link works once, for ``VALID_FOR``. Only its hash
is kept with the invitation; the outbox keeps the e-mail with the link until it is sent, then blanks the
link out. An invitation that lapsed can be made again for the same address.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from . import dates, notify, people
from .models import Invitation, Organisation, Person

VALID_FOR = timedelta(days=14)
MIN_PASSWORD = 10
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class InvitationError(ValueError):
    """An invitation that cannot be made or accepted; ``reason`` says why, for the page to put in words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def invite(
    session: Session,
    admin: Person,
    *,
    name: str,
    email: str,
    provider_profile: bool,
    link: Callable[[str], str],
    now: datetime,
) -> Person:
    """Make the inactive account and queue the e-mail with the link (``link`` makes it from the token).

    Raises ``people.RightsError`` unless ``admin`` is a local administrator, ``InvitationError`` for an
    empty name, an invalid address or one that already has an account."""
    if "lokale_beheerder" not in people.roles_of(session, admin):
        raise people.RightsError("only a local administrator can invite a colleague")
    name, email = name.strip(), email.strip().lower()
    if not name or len(name) > 200:
        raise InvitationError("name")
    if not EMAIL.match(email) or len(email) > 100:
        raise InvitationError("email")
    existing = session.scalars(
        select(Person).where((Person.username == email) | (func.lower(Person.email) == email))
    ).first()
    if existing is None:
        person = Person(
            username=email,
            name=name,
            email=email,
            password_hash=generate_password_hash(secrets.token_urlsafe(32)),  # nobody knows it
            organisation_id=admin.organisation_id,
            language="nl",
            active=False,
        )
        session.add(person)
        session.flush()
    elif _invited_only(session, existing, admin):
        person = existing  # invited before and never accepted (the link lapsed): invite anew
        person.name = name
        session.execute(
            update(Invitation)
            .where(Invitation.person_id == person.id, Invitation.accepted_at.is_(None))
            .values(expires_at=now)
        )
    else:
        raise InvitationError("exists")
    if provider_profile:
        people.grant_provider_profile(session, admin, person, now)
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        token_hash=_hash(token),
        person_id=person.id,
        invited_by=admin.id,
        created_at=now,
        expires_at=now + VALID_FOR,
    )
    session.add(invitation)
    session.flush()
    org = session.get(Organisation, admin.organisation_id)
    notify.queue(
        session,
        key=f"invitation:{invitation.id}",
        to=email,
        template="invitation",
        fields={
            "name": name,
            "inviter": admin.name,
            "organisation": org.name if org is not None else "",
            "link": link(token),
            "until": dates.short(dates.today(now + VALID_FOR)),
        },
        application_id=None,
        now=now,
        secret=link(token),  # blanked out of the outbox's copy once sent
    )
    return person


def pending(session: Session, token: str, now: datetime) -> tuple[Invitation, Person]:
    """The open invitation of this link and the person it is for; ``InvitationError`` (unknown, used,
    expired) otherwise."""
    row = session.scalars(select(Invitation).where(Invitation.token_hash == _hash(token))).first()
    if row is None:
        raise InvitationError("unknown")
    if row.accepted_at is not None:
        raise InvitationError("used")
    if now >= row.expires_at:
        raise InvitationError("expired")
    person = session.get(Person, row.person_id)
    if person is None:
        raise InvitationError("unknown")
    return row, person


def accept(session: Session, token: str, password: str, now: datetime) -> Person:
    """Set the invited person's password and make the account active; the link then stops working."""
    row, person = pending(session, token, now)
    if len(password) < MIN_PASSWORD:
        raise InvitationError("password")
    person.password_hash = generate_password_hash(password)
    person.active = True
    row.accepted_at = now
    return person


def open_invitations(session: Session, admin: Person, now: datetime) -> dict[int, datetime]:
    """For the administrator's colleagues who have not yet accepted: until when their link works."""
    rows = session.execute(
        select(Invitation.person_id, Invitation.expires_at)
        .join(Person, Person.id == Invitation.person_id)
        .where(
            Person.organisation_id == admin.organisation_id,
            Invitation.accepted_at.is_(None),
            Invitation.expires_at > now,
        )
    )
    return {person_id: until for person_id, until in rows}


def _invited_only(session: Session, person: Person, admin: Person) -> bool:
    """True for an inactive account of the administrator's organisation that was invited and never
    accepted (so it may be invited again)."""
    if person.active or person.organisation_id != admin.organisation_id:
        return False
    rows = session.execute(select(Invitation.accepted_at).where(Invitation.person_id == person.id)).all()
    return bool(rows) and all(accepted is None for (accepted,) in rows)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
