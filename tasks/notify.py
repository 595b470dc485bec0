"""Notify providers by e-mail in Dutch through an outbox: sent over SMTP when one is configured.

A notification is queued in the run's transaction (so it exists exactly when the step that caused it
committed), keyed by the service call's idempotency key (so a retry never queues it twice). The worker
sends queued mail when ``KMOP_SMTP_HOST`` is set; otherwise it stays in the outbox, viewable with
``kmop outbox``.
"""

from __future__ import annotations

import os
import smtplib
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import clock
from engine.services import Transaction

from . import dates
from .models import OutboxMessage, Registration
from .register import SERVICE_NL, STATUS_NL

SIGNATURE = "\n\nMet vriendelijke groeten,\nAgentschap Innoveren & Ondernemen (VLAIO)\nkmo-portefeuille"

TEMPLATES: dict[str, tuple[str, str]] = {
    "application_refused": (
        "Uw aanvraag tot registratie {application_id} werd geweigerd",
        "Beste {company_name},\n\nUw aanvraag tot registratie als dienstverlener voor de kmo-portefeuille "
        "({application_id}) werd geweigerd.\nReden: {reason}",
    ),
    "registered": (
        "Uw registratie als dienstverlener kmo-portefeuille",
        "Beste {company_name},\n\nU bent geregistreerd als dienstverlener voor de kmo-portefeuille.\n"
        "{registrations}\nUw attest van registratie staat klaar in het portaal.",
    ),
    "audit_reminder": (
        "Herinnering: auditrapport voor aanvraag {application_id}",
        "Beste {company_name},\n\nWe ontvingen na 4 weken nog geen auditrapport voor uw aanvraag "
        "{application_id}. Neem contact op met uw auditbureau ({audit_bureau}).",
    ),
    "follow_up_reminder": (
        "Herinnering: opvolgingsaudit vóór {deadline}",
        "Beste {company_name},\n\nUw voorlopige registratie loopt af op {deadline}. Laat vóór die datum "
        "een opvolgingsaudit uitvoeren op de modules ervaring en klantentevredenheid.\n{registrations}",
    ),
    "registration_extended": (
        "Uw registratie werd verlengd",
        "Beste {company_name},\n\nDe opvolgingsaudit is positief. Uw registratie is nu volledig.\n"
        "{registrations}\nEen nieuw attest van registratie staat klaar in het portaal.",
    ),
    "registration_stopped": (
        "Uw registratie werd stopgezet",
        "Beste {company_name},\n\nUw registratie als dienstverlener voor de kmo-portefeuille werd "
        "stopgezet.\nReden: {reason}\n{registrations}",
    ),
    "renewal_reminder": (
        "Herinnering: uw registratie loopt af op {deadline}",
        "Beste {company_name},\n\nUw registratie loopt af op {deadline}. Laat tijdig een nieuwe audit "
        "uitvoeren om ze te verlengen; u behoudt dan uw registratienummer.\n{registrations}",
    ),
    "renewal_requested": (
        "Uw aanvraag tot verlenging is ontvangen",
        "Beste {company_name},\n\nWe ontvingen uw aanvraag om uw registratie te verlengen. {audit_bureau} "
        "voert de verlengingsaudit uit en bezorgt het rapport aan VLAIO. Bij een positief rapport loopt uw "
        "registratie verder met hetzelfde registratienummer; doe dit vóór {deadline}.\n{registrations}",
    ),
    "registration_renewed": (
        "Uw registratie werd verlengd",
        "Beste {company_name},\n\nUw registratie werd verlengd met 5 jaar.\n{registrations}\n"
        "Een nieuw attest van registratie staat klaar in het portaal.",
    ),
    "registration_expired": (
        "Uw registratie is verlopen",
        "Beste {company_name},\n\nUw registratie is verlopen op {deadline}. Om opnieuw geregistreerd te "
        "worden, dient u een nieuwe aanvraag in (u krijgt dan een nieuw registratienummer).\n{registrations}",
    ),
    "invitation": (
        "Uitnodiging voor het portaal kmo-portefeuille van {organisation}",
        "Beste {name},\n\n{inviter} nodigt u uit om mee te werken in het portaal kmo-portefeuille voor "
        "{organisation}. Kies uw wachtwoord via deze link (geldig tot {until}):\n{link}\n\nUw "
        "gebruikersnaam is uw e-mailadres.",
    ),
}


def describe(registrations: list[Registration]) -> str:
    lines = [
        f"- {r.number} ({SERVICE_NL.get(r.service, r.service)}): {STATUS_NL.get(r.status, r.status)}, "
        f"geldig van {dates.short(r.valid_from)} tot {dates.short(r.valid_until)}"
        for r in registrations
    ]
    return "\n".join(lines)


class _Fields(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "-"


def queue(
    session: Session,
    *,
    key: str,
    to: str,
    template: str,
    fields: dict[str, Any],
    application_id: str | None,
    now: datetime,
    secret: str | None = None,
) -> OutboxMessage:
    """Put one e-mail in the outbox (once per ``key``); ``secret`` (a one-time link in the body) is
    blanked out of the kept copy once the e-mail is sent."""
    existing = session.scalars(select(OutboxMessage).where(OutboxMessage.idempotency_key == key)).first()
    if existing is not None:
        return existing
    if template not in TEMPLATES:
        raise ValueError(f"no e-mail template '{template}' (known: {', '.join(sorted(TEMPLATES))})")
    subject, body = TEMPLATES[template]
    values = _Fields(fields)
    message = OutboxMessage(
        idempotency_key=key,
        application_id=application_id,
        to_address=to,
        template=template,
        subject=subject.format_map(values),
        body=body.format_map(values) + SIGNATURE,
        created_at=now,
        meta={"fields": sorted(fields), **({"secret": secret} if secret else {})},
    )
    session.add(message)
    session.flush()
    return message


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    user: str | None
    password: str | None
    starttls: bool

    @classmethod
    def from_env(cls) -> SmtpSettings | None:
        host = os.environ.get("KMOP_SMTP_HOST")
        if not host:
            return None
        return cls(
            host=host,
            port=int(os.environ.get("KMOP_SMTP_PORT", "25")),
            sender=os.environ.get("KMOP_SMTP_FROM", "kmo-portefeuille@vlaio.be"),
            user=os.environ.get("KMOP_SMTP_USER"),
            password=os.environ.get("KMOP_SMTP_PASSWORD"),
            starttls=os.environ.get("KMOP_SMTP_STARTTLS", "") in ("1", "true", "yes"),
        )


SENT_SECRET = "[link verwijderd na verzending]"


def _forget_secret(message: OutboxMessage) -> None:
    """Blank a sent e-mail's one-time link out of the copy kept in the outbox."""
    secret = (message.meta or {}).get("secret")
    if secret:
        message.body = message.body.replace(secret, SENT_SECRET)
        message.meta = {k: v for k, v in message.meta.items() if k != "secret"}


def send_pending(
    session: Session, smtp: SmtpSettings, now: datetime, limit: int = 50, only: int | None = None
) -> int:
    """Send unsent outbox messages (or only the one with id ``only``) over SMTP; a failure is kept on the
    message and tried again later."""
    query = select(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
    if only is not None:
        query = query.where(OutboxMessage.id == only)
    pending = session.scalars(query.order_by(OutboxMessage.id).limit(limit)).all()
    if not pending:
        return 0
    sent = 0
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=10) as client:
            if smtp.starttls:
                client.starttls()
            if smtp.user:
                client.login(smtp.user, smtp.password or "")
            for message in pending:
                email = EmailMessage()
                email["From"], email["To"], email["Subject"] = (
                    smtp.sender,
                    message.to_address,
                    message.subject,
                )
                email["Message-ID"] = f"<{message.idempotency_key.replace(':', '.')}@kmop>"
                email.set_content(message.body)
                client.send_message(email)
                message.sent_at, message.error = now, None
                _forget_secret(message)
                sent += 1
    except (OSError, smtplib.SMTPException) as exc:
        for message in pending:
            if message.sent_at is None:
                message.error = f"{type(exc).__name__}: {exc}"
    return sent


def failed(session: Session, limit: int = 50) -> tuple[int, list[OutboxMessage]]:
    """The e-mails whose last attempt failed and that are not sent yet: how many, and the oldest first."""
    unsent = (OutboxMessage.sent_at.is_(None), OutboxMessage.error.is_not(None))
    total = session.scalar(select(func.count()).select_from(OutboxMessage).where(*unsent)) or 0
    rows = session.scalars(select(OutboxMessage).where(*unsent).order_by(OutboxMessage.id).limit(limit)).all()
    return total, list(rows)


def resend(session: Session, message_id: int, now: datetime) -> bool:
    """Try one failed e-mail again now (the worker tries every unsent one on each sweep anyway); whether it
    went. ``LookupError`` when there is no such unsent message, ``RuntimeError`` without SMTP settings."""
    message = session.get(OutboxMessage, message_id)
    if message is None or message.sent_at is not None:
        raise LookupError(f"no unsent e-mail {message_id}")
    smtp = SmtpSettings.from_env()
    if smtp is None:
        raise RuntimeError("no mail server is configured (KMOP_SMTP_HOST)")
    return send_pending(session, smtp, now, only=message_id) == 1


def send_outbox(transaction: Transaction) -> int:
    """The worker's job: send queued e-mail over SMTP when ``KMOP_SMTP_HOST`` is set; how many were sent."""
    smtp = SmtpSettings.from_env()
    if smtp is None:
        return 0
    with transaction(write=True) as session:
        return send_pending(session, smtp, clock.now())


def on_case(session: Session, application_id: str, limit: int = 100) -> list[OutboxMessage]:
    """The e-mails about one case (its application's business key), newest first."""
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.application_id == application_id)
            .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
            .limit(limit)
        )
    )
