"""Each role's home page says what waits for that person, with due dates, and links to the lists."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine import clock
from engine.api import Engine
from tests.web.conftest import login
from tests.web.test_cases import complete, page, start, to_report

pytestmark = pytest.mark.parametrize(
    "db_url", ["sqlite"], indirect=True
)  # words, not storage: one database is enough


def test_home_pages_say_what_waits_for_each_role(client: FlaskClient, app: Flask, engine: Engine) -> None:
    signing = start(engine, "APP-0001")  # waits for the provider's declaration of honour
    to_report(engine, "APP-0002", "dnv")  # waits for DNV's audit report
    checking = start(engine, "APP-0003")
    complete(engine, checking, "sign_declaration", {"declaration_accepted": True, "declared_by": "Jan"})
    engine.advance_clock(clock.now() + timedelta(days=35))  # past every due date and the 4-week reminder

    assert "Het register van dienstverleners raadplegen" in page(client, "/")  # nobody logged in

    login(client, "admin.acme")
    own = page(client, "/")
    assert "Te doen voor Acme Opleidingen BV" in own
    assert own.count("Verklaring op eer ondertekenen") == 1 and "APP-0001" in own
    assert "te laat" in own and "Lopende aanvragen: 3" in own

    login(client, "auditor.dnv")
    bureau = page(client, "/")
    assert "Auditrapporten die u verschuldigd bent" in bureau and "1 in totaal" in bureau
    assert "volgende termijn op" in bureau  # the 6-week escalation: the 4-week reminder went out
    assert "APP-0002" in bureau and "APP-0001" not in bureau

    login(client, "an.vlaio")
    staff = page(client, "/")
    assert "Taken van het agentschap" in staff and "Verklaring op eer nakijken" in staff
    assert ">1 open taken<" in staff and ">1 over tijd<" in staff and "APP-0003" in staff
    assert f"/dossiers/{signing}" not in staff  # the provider's task is not the agency's
