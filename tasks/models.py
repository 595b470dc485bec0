"""Define the domain's tables: the register of providers, numbering, certificates, outbox, audit bureaus.

They share the engine's declarative base, so one Alembic history migrates everything, and service tasks
write them through the run's session: a registration commits together with the instance's new state.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, LargeBinary, String, Text
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
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    follow_up_deadline: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime]
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


class OutboxMessage(Base):
    """An e-mail to send: sent over SMTP when configured, kept and viewable otherwise."""

    __tablename__ = "outbox"
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
