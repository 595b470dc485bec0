"""A local administrator invites a colleague: an inactive account, an e-mail with a one-time link, a
password chosen through it, and then a log-in; the link's problems (used, expired, unknown) in words."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine import clock
from engine.api import Engine
from tasks import people
from tasks.models import OutboxMessage
from tests.web.conftest import csrf_token, login

NEW_PASSWORD = "een-lang-wachtwoord"


pytestmark = pytest.mark.parametrize(
    "db_url", ["sqlite"], indirect=True
)  # words, not storage: one database is enough


def invite(client: FlaskClient, **fields: str) -> tuple[int, str]:
    token = csrf_token(client, "/aanbieder/gebruikers/uitnodigen")
    response = client.post("/aanbieder/gebruikers/uitnodigen", data={"csrf_token": token, **fields})
    return response.status_code, response.get_data(as_text=True)


def link_in_mail(engine: Engine, to: str) -> str:
    with engine.transaction() as db:
        mail = db.scalars(
            select(OutboxMessage).where(OutboxMessage.to_address == to).order_by(OutboxMessage.id)
        ).first()
        assert mail is not None
        assert mail.template == "invitation" and "Admin nodigt u uit" in mail.body
        found = re.search(r"http://localhost(/account/uitnodiging/\S+)", mail.body)
        assert found, mail.body
        return found.group(1)


def test_an_invited_colleague_sets_a_password_and_logs_in_with_the_granted_right(
    client: FlaskClient, app: Flask, engine: Engine
) -> None:
    login(client, "admin.acme")
    status, _ = invite(client, name="Greet Peeters", email="Greet@Acme.example", provider="1")
    assert status == 302
    users = client.get("/aanbieder/gebruikers").get_data(as_text=True)
    assert "Greet Peeters" in users and "uitgenodigd; nog niet aangemeld" in users
    with engine.transaction() as db:
        greet = people.find_person(db, "greet@acme.example")
        assert greet is not None and not greet.active
        assert people.PROVIDER_PROFILE in people.roles_of(db, greet)
        assert people.authenticate(db, "greet@acme.example", NEW_PASSWORD) is None
    path = link_in_mail(engine, "greet@acme.example")

    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    page = client.get(path)
    assert page.status_code == 200 and "Welkom, Greet Peeters" in page.get_data(as_text=True)
    token = csrf_token(client, path)
    short = client.post(path, data={"csrf_token": token, "password": "kort", "password_again": "kort"})
    assert short.status_code == 400 and "minstens 10 tekens" in short.get_data(as_text=True)
    done = client.post(
        path, data={"csrf_token": token, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    )
    assert done.status_code == 302 and done.headers["Location"].endswith("/login")
    again = client.get(path)
    assert again.status_code == 410 and "al gebruikt" in again.get_data(as_text=True)

    logged_in = client.post(
        "/login",
        data={"username": "greet@acme.example", "password": NEW_PASSWORD, "csrf_token": csrf_token(client)},
    )
    assert logged_in.status_code == 302
    assert client.get("/aanbieder/aanvragen/nieuw").status_code == 200  # the provider profile works


def test_invitation_errors_are_said_next_to_the_field_and_change_nothing(
    client: FlaskClient, app: Flask, engine: Engine
) -> None:
    login(client, "admin.acme")
    status, html = invite(client, name="", email="jan.acme@x.example")
    assert status == 400 and "Naam: is verplicht" in html
    status, html = invite(client, name="Jan Bis", email="jan.acme@x.example")
    assert status == 400 and "er bestaat al een account met dit e-mailadres" in html
    status, html = invite(client, name="Jan Bis", email="geen-adres")
    assert status == 400 and "geen geldig e-mailadres" in html and 'value="Jan Bis"' in html
    with engine.transaction() as db:
        assert db.scalars(select(OutboxMessage)).first() is None


def test_only_a_local_administrator_invites_and_an_expired_or_unknown_link_is_refused(
    client: FlaskClient, app: Flask, engine: Engine
) -> None:
    login(client, "piet.andere")
    assert client.get("/aanbieder/gebruikers/uitnodigen").status_code == 403
    login(client, "admin.acme")
    assert invite(client, name="Lien", email="lien@acme.example")[0] == 302
    path = link_in_mail(engine, "lien@acme.example")
    engine.advance_clock(clock.now() + timedelta(days=15))  # the link is valid for 14 days
    expired = client.get(path)
    assert expired.status_code == 410 and "verlopen" in expired.get_data(as_text=True)
    assert client.get("/account/uitnodiging/onbekend").status_code == 404
    # a lapsed invitation is sent again: a new link that works, the old one stays dead
    login(client, "admin.acme")
    assert invite(client, name="Lien", email="lien@acme.example")[0] == 302
    with engine.transaction() as db:
        links = [
            m.body
            for m in db.scalars(select(OutboxMessage).where(OutboxMessage.to_address == "lien@acme.example"))
        ]
    fresh = re.findall(r"http://localhost(/account/uitnodiging/\S+)", links[-1])[0]
    assert len(links) == 2 and fresh != path
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert client.get(fresh).status_code == 200 and client.get(path).status_code == 410
