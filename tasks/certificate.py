"""Issue the certificate of registration (attest van registratie) as a real PDF, in Dutch.

A certificate is issued when a registration is made and again whenever its dates change; every issued
PDF is kept.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import dates
from .models import Certificate, Registration
from .register import SERVICE_NL, STATUS_NL


def render(reg: Registration, issued_on: datetime) -> bytes:
    """Render one certificate: provider, number, service, validity, status and issue date."""
    from fpdf import FPDF  # imported here: it costs 0.3–0.8 s, and most kmop commands render no PDF

    from .validation import format_enterprise_number

    pdf = FPDF(format="A4")
    pdf.set_title(f"Attest van registratie {reg.number}")
    pdf.set_author("Agentschap Innoveren & Ondernemen (VLAIO)")
    pdf.set_creator("kmop")
    pdf.add_page()
    pdf.set_font("helvetica", "B", 18)
    pdf.cell(0, 12, "Attest van registratie", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "", 11)
    pdf.cell(0, 7, "kmo-portefeuille - geregistreerde dienstverlener", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    rows = [
        ("Registratienummer", reg.number),
        ("Dienstverlener", reg.company_name),
        ("Ondernemingsnummer", format_enterprise_number(reg.enterprise_number)),
        ("Dienst", SERVICE_NL.get(reg.service, reg.service)),
        ("Status", STATUS_NL.get(reg.status, reg.status)),
        ("Geldig van", dates.short(reg.valid_from)),
        ("Geldig tot", dates.short(reg.valid_until)),
        ("Uitgereikt op", dates.short(dates.today(issued_on))),
    ]
    for label, value in rows:
        pdf.set_font("helvetica", "B", 11)
        pdf.cell(55, 8, label)
        pdf.set_font("helvetica", "", 11)
        pdf.cell(0, 8, value, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(8)
    pdf.set_font("helvetica", "", 9)
    pdf.multi_cell(
        0,
        5,
        f"De registratie loopt van {dates.long_nl(reg.valid_from)} tot {dates.long_nl(reg.valid_until)}. "
        "Kmo's kunnen voor deze dienst een beroep doen op de kmo-portefeuille zolang de registratie loopt.",
    )
    return bytes(pdf.output())


def issue(session: Session, reg: Registration, now: datetime) -> Certificate | None:
    """Issue a certificate unless the latest one already shows the registration's current dates."""
    latest = session.scalars(
        select(Certificate)
        .where(Certificate.registration_id == reg.id)
        .order_by(Certificate.id.desc())
        .limit(1)
    ).first()
    if latest is not None and (latest.valid_from, latest.valid_until) == (reg.valid_from, reg.valid_until):
        return None
    cert = Certificate(
        registration_id=reg.id,
        issued_at=now,
        valid_from=reg.valid_from,
        valid_until=reg.valid_until,
        status=reg.status,
        pdf=render(reg, now),
    )
    session.add(cert)
    session.flush()
    return cert


def latest(session: Session, reg: Registration) -> Certificate | None:
    return session.scalars(
        select(Certificate)
        .where(Certificate.registration_id == reg.id)
        .order_by(Certificate.id.desc())
        .limit(1)
    ).first()
