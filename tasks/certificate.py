"""Issue the certificate of registration (attest van registratie) as a real PDF, in Dutch.

The certificate states the registration's status, its current period and, after a renewal ahead of time,
the period that follows. It carries a verification link and a QR code to the registration's entry in the
public register, whose base URL is the setting ``KMOP_PUBLIC_URL`` (else the web request's host, else
``kmop serve``'s own address). A certificate is issued when a registration is made and again whenever its
status or dates change; every issued PDF is kept.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any
from urllib.parse import quote

import segno
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import dates
from .models import Certificate, Registration
from .register import SERVICE_NL, STATUS_NL, Periods, periods

DEFAULT_PUBLIC_URL = "http://127.0.0.1:5000"  # where ``kmop serve`` listens unless told otherwise
QR_SIZE = 36.0  # mm, quiet zone included: large enough for a phone at arm's length
QR_BORDER = 4  # modules of quiet zone, as the QR standard asks


def public_url(request_host: str | None = None) -> str:
    """The public site's base URL: ``KMOP_PUBLIC_URL``, else the request's host, else the default."""
    base = os.environ.get("KMOP_PUBLIC_URL", "").strip() or request_host or DEFAULT_PUBLIC_URL
    return base.rstrip("/")


def verification_url(number: str, base_url: str) -> str:
    """The registration's entry in the public register, where anyone can check the certificate."""
    return f"{base_url.rstrip('/')}/register/{quote(number)}"


def qr_code(url: str) -> segno.QRCode:
    """The QR code of ``url``, error correction M (15 % of the symbol may be damaged)."""
    return segno.make(url, error="m", micro=False)


def render(reg: Registration, issued_on: datetime, base_url: str) -> bytes:
    """Render one certificate: provider, number, service, status, periods, issue date, verification."""
    from fpdf import FPDF  # imported here: it costs 0.3–0.8 s, and most kmop commands render no PDF

    from .validation import format_enterprise_number

    now = periods(reg, dates.today(issued_on))
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
        ("Huidige periode", _span(now.current.valid_from, now.current.valid_until)),
    ]
    if now.next is not None:
        rows.append(("Volgende periode", _span(now.next.valid_from, now.next.valid_until)))
    rows.append(("Uitgereikt op", dates.short(dates.today(issued_on))))
    for label, value in rows:
        pdf.set_font("helvetica", "B", 11)
        pdf.cell(55, 8, label)
        pdf.set_font("helvetica", "", 11)
        pdf.cell(0, 8, value, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(8)
    pdf.set_font("helvetica", "", 9)
    pdf.multi_cell(0, 5, _statement(reg, now), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    _verification(pdf, verification_url(reg.number, base_url))
    return bytes(pdf.output())


def _span(start: Any, end: Any) -> str:
    return f"{dates.short(start)} tot {dates.short(end)}"


def _statement(reg: Registration, now: Periods) -> str:
    """The certificate's sentence: status and periods in words."""
    status = STATUS_NL.get(reg.status, reg.status)
    current = now.current
    text = (
        f"De registratie is {status}. De huidige periode loopt van {dates.long_nl(current.valid_from)} "
        f"tot {dates.long_nl(current.valid_until)}."
    )
    if now.next is not None:
        text += (
            f" De registratie is verlengd met hetzelfde registratienummer: de volgende periode loopt van "
            f"{dates.long_nl(now.next.valid_from)} tot {dates.long_nl(now.next.valid_until)}."
        )
    if reg.status == "conditional" and reg.follow_up_deadline:
        text += (
            " De registratie blijft enkel lopen na een positieve opvolgingsaudit vóór "
            f"{dates.long_nl(reg.follow_up_deadline)}."
        )
    if reg.status == "provisional":
        text += " Als beginnende dienstverlener moet u binnen 2 jaar een positieve opvolgingsaudit halen."
    return text + (
        " Kmo's kunnen voor deze dienst een beroep doen op de kmo-portefeuille zolang de registratie loopt."
    )


def _verification(pdf: Any, url: str) -> None:
    """Draw the QR code of ``url`` as vector squares, with the link beside it; both are clickable."""
    code = qr_code(url)
    matrix = [list(row) for row in code.matrix_iter(scale=1, border=QR_BORDER)]
    module = QR_SIZE / len(matrix)
    left, top = pdf.l_margin, pdf.get_y()
    pdf.set_fill_color(0, 0, 0)
    for y, row in enumerate(matrix):
        x = 0
        while x < len(row):  # one rectangle per run of dark modules: fewer shapes, no hairline gaps
            if not row[x]:
                x += 1
                continue
            run = x
            while run < len(row) and row[run]:
                run += 1
            pdf.rect(left + x * module, top + y * module, (run - x) * module, module, style="F")
            x = run
    pdf.link(left, top, QR_SIZE, QR_SIZE, url)
    pdf.set_xy(left + QR_SIZE + 4, top + 6)
    pdf.set_font("helvetica", "B", 10)
    pdf.cell(0, 6, "Controleer dit attest", new_x="LEFT", new_y="NEXT")
    pdf.set_font("helvetica", "", 9)
    pdf.multi_cell(
        0,
        5,
        "Scan de QR-code of open de link: het openbare register toont de status van deze registratie "
        "vandaag.",
        new_x="LEFT",
        new_y="NEXT",
    )
    pdf.set_text_color(0, 0, 160)
    pdf.cell(0, 6, url, link=url, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.set_y(max(pdf.get_y(), top + QR_SIZE))


def issue(session: Session, reg: Registration, now: datetime) -> Certificate | None:
    """Issue a certificate unless the latest one already shows the registration's status and dates."""
    last = latest(session, reg)
    if last is not None and (last.status, last.valid_from, last.valid_until) == (
        reg.status,
        reg.valid_from,
        reg.valid_until,
    ):
        return None
    cert = Certificate(
        registration_id=reg.id,
        issued_at=now,
        valid_from=reg.valid_from,
        valid_until=reg.valid_until,
        status=reg.status,
        pdf=render(reg, now, public_url()),
    )
    session.add(cert)
    session.flush()
    return cert


def current(reg: Registration, now: datetime, request_host: str | None = None) -> bytes:
    """The certificate as the registration stands at ``now``, for a download (not kept): its status and
    periods of today, its link on ``KMOP_PUBLIC_URL`` or else the host the download was asked of."""
    return render(reg, now, public_url(request_host))


def latest(session: Session, reg: Registration) -> Certificate | None:
    return session.scalars(
        select(Certificate)
        .where(Certificate.registration_id == reg.id)
        .order_by(Certificate.id.desc())
        .limit(1)
    ).first()
