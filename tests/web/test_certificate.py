"""The certificate and the public register entry it links to, after a renewal ahead of time: both show
the current period and the next one; the certificate's link and QR code lead to the entry."""

from __future__ import annotations

import io
import re
from datetime import date
from urllib.parse import urlsplit

import pytest
import segno
from flask import Flask

from engine.api import Engine
from tasks import register
from tests.web.test_api import Api, token_for
from tests.web.test_provider import client_of, full_scores, grant, pdf_text, registered

PUBLIC_URL = "https://register.kmop.example"
RECT = re.compile(rb"([\d.]+) ([\d.]+) ([\d.]+) (-[\d.]+) re f")


def renewed_early(engine: Engine, key: str) -> tuple[str, date, date, date]:
    """A registration renewed the day it was made: (number, start, end of current, end of next)."""
    _, number = registered(engine, key)
    payload = {"application_id": key, "report_id": f"R2-{key}", "audit_type": "full", "scores": full_scores()}
    with engine.transaction() as db:
        engine.message(db, "audit_report", None, payload)
    with engine.transaction() as db:
        [reg] = register.of_application(db, key)
        assert reg.previous_from is not None and reg.previous_until == reg.valid_from
        return number, reg.previous_from, reg.valid_from, reg.valid_until


def qr_modules(pdf: bytes) -> list[list[bool]]:
    """The QR code drawn on the certificate's page, read back from its filled squares, as a grid."""
    from pypdf import PdfReader

    stream = PdfReader(io.BytesIO(pdf)).pages[0].get_contents().get_data()
    rects = [tuple(float(v) for v in m.groups()) for m in RECT.finditer(stream)]
    module = min(-h for *_, h in rects)
    left, top = min(r[0] for r in rects), max(r[1] for r in rects)
    cells = set()
    for x, y, w, _ in rects:
        row, col = round((top - y) / module), round((x - left) / module)
        cells.update((row, col + i) for i in range(round(w / module)))
    size = max(max(c) for c in cells) + 1
    return [[(r, c) in cells for c in range(size)] for r in range(size)]


def test_an_early_renewal_shows_the_current_and_the_next_period(
    app: Flask, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KMOP_PUBLIC_URL", PUBLIC_URL + "/")
    grant(engine, "jan.acme")
    number, start, end, next_end = renewed_early(engine, "APP-Q-000001")
    short = [d.strftime("%d/%m/%Y") for d in (start, end, next_end)]

    pdf = client_of(app, "jan.acme").get(f"/aanbieder/registraties/{number}/attest.pdf").data
    words = " ".join(pdf_text(pdf).split())
    assert "Status actief" in words
    assert f"Huidige periode {short[0]} tot {short[1]}" in words
    assert f"Volgende periode {short[1]} tot {short[2]}" in words
    url = f"{PUBLIC_URL}/register/{number}"
    assert url in words
    expected = [[bool(v) for v in row] for row in segno.make(url, error="m").matrix_iter(border=0)]
    assert qr_modules(pdf) == expected, "the QR code on the certificate encodes the entry's address"

    entry = app.test_client().get(urlsplit(url).path)  # anyone, without logging in
    html = " ".join(entry.get_data(as_text=True).split())
    assert entry.status_code == 200
    assert f"<dd>{short[0]} tot {short[1]}</dd>" in html and f"<dd>{short[1]} tot {short[2]}</dd>" in html
    assert "De registratie is verlengd met hetzelfde registratienummer" in html

    api = Api(app.test_client(), token_for(engine, "an.vlaio"))
    record = api.ok(api.get(f"/registrations/{number}"))
    assert record["current_period"] == {"valid_from": start.isoformat(), "valid_until": end.isoformat()}
    assert record["next_period"] == {"valid_from": end.isoformat(), "valid_until": next_end.isoformat()}


def test_the_entry_of_a_stopped_registration_says_its_certificate_is_no_longer_valid(
    app: Flask, engine: Engine
) -> None:
    number, *_ = renewed_early(engine, "APP-Q-000002")
    with engine.transaction() as db:
        reg = register.find(db, number)
        assert reg is not None
        register.change(
            db, reg, now=reg.updated_at, on_date=date(2027, 3, 5), reason="x", source="stop", status="stopped"
        )
    html = " ".join(app.test_client().get(f"/register/{number.lower()}").get_data(as_text=True).split())
    assert "Deze registratie is stopgezet sinds 5 maart 2027." in html
    assert "Een attest van deze registratie is niet meer geldig" in html
    assert "Volgende periode" not in html, "a stopped registration's renewed period never starts"
    missing = app.test_client().get("/register/DV.O999999")
    assert missing.status_code == 404 and missing.mimetype == "text/html"
