"""A person makes and revokes their own API keys in the browser; a key is shown once and works at once."""

from __future__ import annotations

import re

from flask import Flask

from engine.api import Engine
from tasks import people
from tasks.models import ApiToken, Person
from tests.web.test_provider import client_of, post


def test_an_auditor_makes_a_key_uses_it_and_revokes_it(app: Flask, engine: Engine) -> None:
    auditor = client_of(app, "auditor.dnv")
    page = auditor.get("/account/sleutels")
    assert page.status_code == 200 and "U hebt geen API-sleutels." in page.get_data(as_text=True)
    assert 'href="/account/sleutels"' in page.get_data(as_text=True), "the menu links to it"

    empty = post(auditor, "/account/sleutels", {"label": "  "})
    assert empty.status_code == 400 and 'id="f-label-error"' in empty.get_data(as_text=True)

    made = post(auditor, "/account/sleutels", {"label": "Rapportagesysteem <DNV>"})
    html = made.get_data(as_text=True)
    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    [token] = re.findall(r'<code class="token">(kmop_[^<]+)</code>', html)
    assert "Rapportagesysteem &lt;DNV&gt;" in html
    with engine.transaction() as db:
        [row] = db.query(ApiToken).all()
        assert row.token_hash != token and token not in row.token_hash, "only the hash is stored"
    api = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/v1/cases", headers=headers).status_code == 200
    listing = auditor.get("/account/sleutels").get_data(as_text=True)
    assert token not in listing, "shown once only"
    assert "Rapportagesysteem &lt;DNV&gt;" in listing and "nooit" not in listing  # it was used just now

    # Someone else cannot revoke it; its owner can, and then it no longer works.
    other = client_of(app, "an.vlaio")
    assert post(other, f"/account/sleutels/{row.id}/intrekken", {}).status_code == 404
    assert auditor.post(f"/account/sleutels/{row.id}/intrekken").status_code == 400, "CSRF token needed"
    assert api.get("/api/v1/cases", headers=headers).status_code == 200
    asked = post(auditor, f"/account/sleutels/{row.id}/intrekken", {})  # first: are you sure?
    assert asked.status_code == 200 and "Ja, intrekken" in asked.get_data(as_text=True)
    assert api.get("/api/v1/cases", headers=headers).status_code == 200, "not revoked yet"
    revoked = post(auditor, f"/account/sleutels/{row.id}/intrekken", {"confirmed": "1"})
    assert revoked.status_code == 302
    assert api.get("/api/v1/cases", headers=headers).status_code == 401
    assert "is ingetrokken" in auditor.get("/account/sleutels").get_data(as_text=True)


def test_the_keys_page_needs_a_log_in_and_shows_only_ones_own_keys(app: Flask, engine: Engine) -> None:
    from engine import clock

    with engine.transaction() as db:
        an = db.query(Person).filter_by(username="an.vlaio").one()
        people.issue_token(db, an, "VLAIO-rapportering", clock.now())
    anonymous = app.test_client().get("/account/sleutels")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    page = client_of(app, "jan.acme").get("/account/sleutels").get_data(as_text=True)
    assert "VLAIO-rapportering" not in page
    assert "VLAIO-rapportering" in client_of(app, "an.vlaio").get("/account/sleutels").get_data(as_text=True)
