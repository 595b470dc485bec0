"""Periods and certificates in a real browser: a renewal ahead of time shows the current and the next
period in the provider's portal; a stopped registration's certificate is a page in words (410); the
certificate PDF, rendered by poppler's pdftoppm, carries a QR code that encodes its register entry."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import segno
from PIL import Image

from engine import clock
from tasks import people, register
from tests.browser.conftest import ARTIFACTS, Site, add_person, log_in
from tests.web.test_certificate import renewed_early
from tests.web.test_provider import registered

DPI = 150


def _provider(site: Site) -> None:
    with site.engine.transaction() as db:
        acme = people.create_organisation(db, "Acme Opleidingen BV", "provider", "0566988259")
        add_person(db, "jan.acme", "Jan", acme, ("dienstverlener",))


def _stopped(site: Site) -> str:
    _, number = registered(site.engine, "APP-B-000002", services=["advice"])
    with site.engine.transaction() as db:
        reg = register.find(db, number)
        assert reg is not None
        register.change(
            db, reg, now=clock.now(), on_date=reg.valid_from, reason="x", source="stop", status="stopped"
        )
    return number


def read_qr(png: Path) -> list[list[bool]]:
    """The QR code in the picture as a grid of modules, each sampled at its centre. The first long dark
    run from the top (30 px or more: no letter has one) is the top edge of the top-left finder pattern,
    7 modules wide; that row ends with the top-right finder, so it spans the symbol's width."""
    image = Image.open(png).convert("L")
    width, height = image.size

    def dark(x: int, y: int) -> bool:
        return bool(image.getpixel((x, y)) < 128)

    for y0 in range(height):
        x = 0
        while x < width // 3 and not (dark(x, y0) and all(dark(x + i, y0) for i in range(30))):
            x += 1
        if x < width // 3:
            break
    else:
        raise AssertionError("no QR code on the page")
    x0 = x
    run = next(i for i in range(x0, width) if not dark(i, y0)) - x0
    module = run / 7
    x1 = max(i for i in range(x0, min(width, x0 + run * 10)) if dark(i, y0))
    size = round((x1 - x0 + 1) / module)
    return [
        [dark(int(x0 + (c + 0.5) * module), int(y0 + (r + 0.5) * module)) for c in range(size)]
        for r in range(size)
    ]


def test_periods_in_the_portal_a_stopped_certificate_and_the_qr_code(
    page: Any, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("pdftoppm") is None:
        if os.environ.get("CI"):
            pytest.fail("pdftoppm is missing (apt-get install poppler-utils)")
        pytest.skip("pdftoppm is missing (apt-get install poppler-utils)")
    monkeypatch.setenv("KMOP_PUBLIC_URL", site.url)  # the address certificates link to
    _provider(site)
    number, start, end, next_end = renewed_early(site.engine, "APP-B-000001")
    stopped = _stopped(site)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    log_in(page, site, "jan.acme", "/aanbieder/")
    row = " ".join(page.locator("table.registrations tr", has_text=number).first.inner_text().split())
    day = "%d/%m/%Y"
    assert f"{start:{day}} {end:{day}} {end:{day}} {next_end:{day}} (volgende periode)" in row
    page.screenshot(path=str(ARTIFACTS / "periods_portal.png"), full_page=True)

    gone = page.goto(f"{site.url}/aanbieder/registraties/{stopped}/attest.pdf")
    assert gone is not None and gone.status == 410
    assert f"De registratie {stopped} is stopgezet: er is geen geldig attest meer." in page.inner_text("main")
    page.screenshot(path=str(ARTIFACTS / "periods_stopped_certificate.png"), full_page=True)

    pdf = page.request.get(f"{site.url}/aanbieder/registraties/{number}/attest.pdf")
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    source = ARTIFACTS / "periods_certificate.pdf"
    source.write_bytes(pdf.body())
    target = ARTIFACTS / "periods_certificate"
    subprocess.run(
        ["pdftoppm", "-png", "-r", str(DPI), "-singlefile", str(source), str(target)], check=True, timeout=60
    )
    source.unlink()
    url = f"{site.url}/register/{number}"
    expected = [[bool(v) for v in row] for row in segno.make(url, error="m").matrix_iter(border=0)]
    assert read_qr(target.with_suffix(".png")) == expected

    page.goto(url)
    assert f"Registratie {number}" in page.inner_text("h1")
    page.screenshot(path=str(ARTIFACTS / "periods_entry.png"), full_page=True)
