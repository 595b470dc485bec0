"""The public register: no log-in, running registrations only, found by name or either number."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine import clock
from engine.api import Engine
from tasks import register
from tests.web.conftest import csrf_token


def add(engine: Engine, name: str, enterprise_number: str, service: str, status: str, until: date) -> str:
    with engine.transaction() as db:
        reg = register.create(
            db,
            application_id=f"APP-{name[:8]}",
            enterprise_number=enterprise_number,
            company_name=name,
            email="info@example.be",
            service=service,
            status=status,
            valid_from=date(2026, 1, 15),
            valid_until=until,
            follow_up_deadline=None,
            now=clock.now(),
            reason="test",
            source=f"test:{name}:{service}",
        )
        return reg.number


@pytest.fixture
def registrations(app: Flask, engine: Engine) -> dict[str, str]:
    return {
        "acme": add(engine, "Acme Opleidingen BV", "0566988259", "training", "active", date(2031, 1, 15)),
        "acme_advice": add(
            engine, "Acme Opleidingen BV", "0566988259", "advice", "conditional", date(2031, 1, 15)
        ),
        "starter": add(engine, "Starter & Co", "1001234592", "training", "provisional", date(2028, 1, 15)),
        "stopped": add(engine, "Gestopt NV", "1000000021", "training", "stopped", date(2031, 1, 15)),
        "expired": add(engine, "Verlopen BVBA", "0970000097", "training", "expired", date(2025, 1, 15)),
        "markup": add(
            engine, "<script>alert('x')</script> Evil BV", "0970000097", "advice", "active", date(2030, 6, 1)
        ),
    }


def numbers(client: FlaskClient, query: str | None = None) -> set[str]:
    response = client.get("/register/", query_string={"q": query} if query is not None else None)
    assert response.status_code == 200
    return set(re.findall(r"<td>(DV\.[OA]\d{6})</td>", response.get_data(as_text=True)))


def test_the_register_needs_no_login_and_lists_running_registrations_only(
    client: FlaskClient, registrations: dict[str, str]
) -> None:
    running = {registrations[k] for k in ("acme", "acme_advice", "starter", "markup")}
    assert numbers(client) == running
    assert numbers(client, "") == running


def test_a_row_shows_number_name_formatted_enterprise_number_service_status_and_end_date(
    client: FlaskClient, registrations: dict[str, str]
) -> None:
    html = client.get("/register/", query_string={"q": registrations["starter"]}).get_data(as_text=True)
    row = re.search(r"<tr>\s*<td>DV\.O\d{6}</td>(.*?)</tr>", html, re.S)
    assert row is not None
    cells = [c.strip() for c in re.findall(r"<td>(.*?)</td>", row.group(1), re.S)]
    assert cells == ["Starter &amp; Co", "1001.234.592", "opleiding", "voorlopig", "15/01/2028"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("acme", ("acme", "acme_advice")),
        ("  OPLEIDINGEN ", ("acme", "acme_advice")),
        ("0566.988.259", ("acme", "acme_advice")),
        ("BE 0566 988 259", ("acme", "acme_advice")),
        ("be0566988259", ("acme", "acme_advice")),
        ("566988259", ("acme", "acme_advice")),  # the old 9-digit form
        ("1001-234-592", ("starter",)),
        ("gestopt", ()),  # a stopped registration is not in the public register
        ("1000.000.021", ()),
        ("verlopen", ()),
        ("%", ()),  # a LIKE wildcard is a plain character
        ("_", ()),
        ("nobody", ()),
    ],
)
def test_search_by_name_or_enterprise_number_in_any_format(
    client: FlaskClient, registrations: dict[str, str], query: str, expected: tuple[str, ...]
) -> None:
    assert numbers(client, query) == {registrations[k] for k in expected}


def test_search_by_registration_number_in_any_case_and_spacing(
    client: FlaskClient, registrations: dict[str, str]
) -> None:
    number = registrations["acme_advice"]
    assert number.startswith("DV.A")
    for query in (number, number.lower(), number.replace(".", ""), f" {number[:2]} {number[3:]} "):
        assert numbers(client, query) == {number}, query
    assert numbers(client, registrations["stopped"]) == set()


def test_company_names_with_markup_are_escaped(client: FlaskClient, registrations: dict[str, str]) -> None:
    html = client.get("/register/", query_string={"q": "evil"}).get_data(as_text=True)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Evil BV" in html
    assert "0970.000.097" in html


def test_the_search_is_kept_and_escaped_in_the_form(
    client: FlaskClient, registrations: dict[str, str]
) -> None:
    html = client.get("/register/", query_string={"q": '"><b>x'}).get_data(as_text=True)
    assert 'value="&#34;&gt;&lt;b&gt;x"' in html
    assert "Geen geregistreerde dienstverlener gevonden." in html


def test_the_register_in_english(client: FlaskClient, registrations: dict[str, Any]) -> None:
    client.get("/login")
    dutch = client.get("/register/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Register van dienstverleners" in dutch  # Dutch first, whatever the browser asks
    client.post("/language/en", data={"csrf_token": csrf_token(client, "/register/"), "next": "/register/"})
    html = client.get("/register/").get_data(as_text=True)
    assert "Register of service providers" in html and "training" in html and "active" in html
