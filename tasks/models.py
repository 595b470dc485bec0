"""Define the domain's tables: the register of providers, numbering, certificates, outbox, audit bureaus.

They share the engine's declarative base, so one Alembic history migrates everything, and service tasks
write them through the run's session: a registration commits together with the instance's new state.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from engine.models import Base


class AuditBureau(Base):
    """An appointed audit bureau (appointed 1 Feb 2024 for 5 years); data, not code."""

    __tablename__ = "audit_bureau"
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    enterprise_number: Mapped[str | None] = mapped_column(String(10), index=True)
    appointed_from: Mapped[date] = mapped_column(Date)
    appointed_until: Mapped[date] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class NumberSequence(Base):
    """The last registration number handed out per prefix (``DV.O``, ``DV.A``)."""

    __tablename__ = "number_sequence"
    prefix: Mapped[str] = mapped_column(String(10), primary_key=True)
    last: Mapped[int]


class Registration(Base):
    """One registration: one number per service per registered office."""

    __tablename__ = "registration"
    __table_args__ = (Index("ix_registration_company", "enterprise_number", "service"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    application_id: Mapped[str] = mapped_column(String(200), index=True)
    enterprise_number: Mapped[str] = mapped_column(String(10))
    company_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(200))
    service: Mapped[str] = mapped_column(String(20))  # training | advice
    # provisional | conditional | active | stopped | expired
    status: Mapped[str] = mapped_column(String(20), index=True)
    # The latest period: the one the registration runs to (after a renewal, the period that follows).
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    # The period before it, kept when a renewal recorded the latest period: until that one starts, this is
    # the current period (tasks.register.periods).
    previous_from: Mapped[date | None] = mapped_column(Date)
    previous_until: Mapped[date | None] = mapped_column(Date)
    follow_up_deadline: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(index=True)  # the monitor's registrations per period
    updated_at: Mapped[datetime]


class RegistrationChange(Base):
    """Append-only history of a registration: every change with its date and reason."""

    __tablename__ = "registration_change"
    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registration.id"), index=True)
    at: Mapped[datetime]
    on_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(200))  # idempotency key of the service call


class Certificate(Base):
    """A certificate of registration (attest van registratie) as issued: re-issued when dates change."""

    __tablename__ = "certificate"
    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registration.id"), index=True)
    issued_at: Mapped[datetime]
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    pdf: Mapped[bytes] = mapped_column(LargeBinary)


_FAILED = text("sent_at IS NULL AND error IS NOT NULL")  # the monitor lists the e-mails that failed


class OutboxMessage(Base):
    """An e-mail to send: sent over SMTP when configured, kept and viewable otherwise."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_failed", "id", sqlite_where=_FAILED, postgresql_where=_FAILED),)
    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    application_id: Mapped[str | None] = mapped_column(String(200), index=True)
    to_address: Mapped[str] = mapped_column(String(200))
    template: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    meta: Mapped[dict[str, Any]]


class RenewalRequest(Base):
    """A provider's request to renew the registrations of an application, naming the audit bureau that will
    do the renewal audit. ``status``: open, superseded (a later request replaced it), renewed, expired or
    stopped."""

    __tablename__ = "renewal_request"
    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[str] = mapped_column(String(200), index=True)
    audit_bureau: Mapped[str] = mapped_column(ForeignKey("audit_bureau.code"), index=True)
    audit_hours: Mapped[int]
    requested_by: Mapped[str | None] = mapped_column(String(100))
    requested_at: Mapped[datetime]
    registration_ends: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="open")
    closed_at: Mapped[datetime | None]
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)


class Organisation(Base):
    """A provider company, an audit bureau or the agency; people belong to one."""

    __tablename__ = "organisation"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # provider | audit_bureau | agency
    enterprise_number: Mapped[str | None] = mapped_column(String(10), index=True)
    audit_bureau_code: Mapped[str | None] = mapped_column(ForeignKey("audit_bureau.code"))


class Person(Base):
    """Someone who logs in; the password is stored only as a salted hash."""

    __tablename__ = "person"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(300))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    language: Mapped[str] = mapped_column(String(2), default="nl")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # In every session cookie issued at log-in; log-out raises it, so a copied cookie stops working.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class RoleGrant(Base):
    """A role held by a person; the provider profile is granted by the organisation's local administrator."""

    __tablename__ = "role_grant"
    __table_args__ = (Index("ix_role_grant_person_role", "person_id", "role", unique=True),)
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    role: Mapped[str] = mapped_column(String(40))
    granted_by: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    granted_at: Mapped[datetime]


class ApiToken(Base):
    """A token for a machine client (an audit bureau's system); only its hash is stored."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    label: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]


class Invitation(Base):
    """A colleague invited by a local administrator: the account exists but stays inactive until the
    person sets a password through the link in the e-mail (only the link token's hash is stored)."""

    __tablename__ = "invitation"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    invited_by: Mapped[int] = mapped_column(ForeignKey("person.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
