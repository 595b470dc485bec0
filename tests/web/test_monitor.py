"""The monitor's page against the cases made: counts by status and per element, the audit-report age bands
and the cases behind them, the deadlines coming up, incidents retried in bulk from the page, the chart's
figures, the refresh fragment, English, and bad input answered with a 404 or a message (never a 500)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine import clock
from engine.api import Engine
from engine.services import ServiceContext, ServiceRegistry
from tasks.procedures import summarize_audit
from tests.web.conftest import add_person
from tests.web.test_provider import client_of, full_scores, post, registered, to_report


def _advance(engine: Engine, by: timedelta) -> None:
    engine.advance_clock(clock.now() + by)


def _data(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="monitor-data">(.*?)</script>', html, re.S)
    assert found, "the page carries its figures for the heatmap"
    return json.loads(found.group(1))


def _chart(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="monitor-trends-data">(.*?)</script>', html, re.S)
    assert found, "the trends carry the chart's figures"
    return json.loads(found.group(1))


def _cases_in(client: FlaskClient, link: str) -> set[int]:
    """The case ids the case list shows behind a figure's link."""
    html = client.get(link.replace("&amp;", "&")).get_data(as_text=True)
    return {int(n) for n in re.findall(r'<tr data-case="(\d+)"', html)}


def _link(html: str, marker: str) -> str:
    found = re.search(marker + r'[^>]*>\s*<a href="([^"]+)"', html)
    assert found, marker
    return found.group(1)


@pytest.fixture
def lead(app: Flask) -> FlaskClient:
    return client_of(app, "an.vlaio")


def test_the_figures_match_the_cases_and_lead_to_them(app: Flask, engine: Engine, lead: FlaskClient) -> None:
    late = to_report(engine, "APP-W-000001")
    _advance(engine, timedelta(weeks=3))
    recent = {to_report(engine, key) for key in ("APP-W-000002", "APP-W-000003")}
    _advance(engine, timedelta(weeks=2))  # the first waits 5 weeks for its report, the others 2

    html = lead.get("/monitor/").get_data(as_text=True)
    bands = dict(re.findall(r'data-band="(\d)"><a href="[^"]+"><span class="count">(\d+)</span>', html))
    assert bands == {"1": "2", "2": "1", "3": "0"}
    assert _cases_in(lead, _link(html, 'data-band="2"')) == {late}
    assert _cases_in(lead, _link(html, 'data-band="1"')) == recent
    figures = _data(html)["elements"]
    assert figures["wait_report"]["waiting"] == 3
    assert _cases_in(lead, figures["wait_report"]["link"]) == {late, *recent}
    assert "report_after_4_weeks" not in figures  # a boundary timer: the case waits at its activity
    waiting = re.search(r'<span class="count">(\d+)</span> <span class="label">Wacht</span>', html)
    assert waiting and waiting.group(1) == "3"

    report = {
        "application_id": "APP-W-000001",
        "report_id": "R-1",
        "audit_type": "full",
        "scores": full_scores(),
    }
    with engine.transaction() as db:
        engine.message(db, "audit_report", None, report)
    figures = _data(lead.get("/monitor/").get_data(as_text=True))["elements"]
    assert figures["wait_report"]["waiting"] == 2 and figures["decide"]["waiting"] == 1
    assert (figures["wait_report"]["median_text"], figures["wait_report"]["p90_text"]) == (
        "5 weken",
        "5 weken",
    )


def test_deadlines_coming_up_are_counted_and_linked(engine: Engine, lead: FlaskClient) -> None:
    case, _number = registered(engine, "APP-W-000010")
    html = lead.get("/monitor/").get_data(as_text=True)
    assert _data(html)["elements"]["renewal"]["waiting"] == 1  # waits inside the called renewal process
    row = re.search(r"Einddatum van de registratie</th>(.*?)</tr>", html, re.S)
    assert row and re.findall(r'data-days="\d+">(\d+)<', row.group(1)) == ["0", "0", "0"]
    _advance(engine, timedelta(days=365 * 4 + 60))  # the end date (5 years) is some 10 months away now
    html = lead.get("/monitor/").get_data(as_text=True)
    row = re.search(r"Einddatum van de registratie</th>(.*?)</tr>", html, re.S)
    assert row
    cells = re.findall(r'<td data-days="(\d+)">(?:<a href="([^"]+)">)?(\d+)', row.group(1))
    assert [(days, count) for days, _link, count in cells] == [("30", "0"), ("90", "0"), ("365", "1")]
    assert _cases_in(lead, cells[2][1]) == {case}


def test_an_incident_group_is_retried_from_the_dashboard(
    engine: Engine, registry: ServiceRegistry, lead: FlaskClient
) -> None:
    down = {"yes": True}

    def flaky(ctx: ServiceContext, scores: dict[str, Any], audit_type: str) -> dict[str, Any]:
        if down["yes"]:
            raise ConnectionError("audit summary service unreachable")
        return summarize_audit(ctx, scores, audit_type)

    registry.register("summarize_audit", flaky)
    cases = [to_report(engine, f"APP-W-00002{n}") for n in range(2)]
    for n, _case in enumerate(cases):
        payload = {"application_id": f"APP-W-00002{n}", "report_id": f"R{n}", "audit_type": "full"}
        with engine.transaction() as db:
            engine.message(db, "audit_report", None, {**payload, "scores": full_scores()})
    for _ in range(5):  # past the automatic retries
        _advance(engine, timedelta(minutes=30))
    html = lead.get("/monitor/").get_data(as_text=True)
    assert 'data-incident-group="ConnectionError"' in html
    assert "Alle 2 opnieuw proberen" in html
    assert _cases_in(
        lead, _link(html, r'<td>ConnectionError<br><span class="hint">[^<]*</span></td>\s*<td')
    ) == set(cases)

    down["yes"] = False
    answer = post(
        lead,
        "/monitor/incidents/retry-group",
        {
            "process": "registration",
            "element": "summarize_report",
            "error": "ConnectionError",
            "back": "/monitor/",
        },
    )
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/monitor/")
    html = lead.get("/monitor/").get_data(as_text=True)
    assert "Opnieuw geprobeerd: 2." in html and "Geen open incidenten." in html
    assert _data(html)["elements"]["decide"]["waiting"] == 2  # both went on to the decision
    # a second click on a group that is gone, and an incident already handled: a message, no error
    again = post(
        lead, "/monitor/incidents/retry-group", {"process": "registration", "element": "x", "error": "y"}
    )
    assert again.status_code == 302
    assert "geen open incidenten meer" in lead.get("/monitor/").get_data(as_text=True)


def test_the_chart_counts_applications_and_registrations_per_month(engine: Engine, lead: FlaskClient) -> None:
    registered(engine, "APP-W-000030")
    to_report(engine, "APP-W-000031", services=["advice"])
    html = lead.get("/monitor/trends?unit=month&partial=1").get_data(as_text=True)
    chart = _chart(html)
    totals = {d["key"]: sum(d["data"]) for d in chart["datasets"]}
    assert totals == {"started": 2, "registered": 1, "refused": 0, "expired": 0}
    assert len(chart["labels"]) == 12 and len(chart["links"]) == 12
    assert len(_cases_in(lead, chart["links"][-1])) == 2  # this month's applications
    weekly = _chart(lead.get("/monitor/trends?unit=week&partial=1").get_data(as_text=True))
    assert len(weekly["labels"]) == 26 and sum(weekly["datasets"][0]["data"]) == 2
    assert weekly["datasets"][1]["key"] == "registered" and sum(weekly["datasets"][1]["data"]) == 1
    page = lead.get("/monitor/trends").get_data(as_text=True)  # without JavaScript: a page of its own
    assert "<html" in page and "Tijd van aanvraag tot beslissing" in page and 'id="monitor-chart"' in page
    assert 'id="monitor-trends"' in lead.get("/monitor/").get_data(as_text=True)
    assert lead.get("/monitor/trends?process=").status_code == 200


def test_the_refresh_fragment_english_and_bad_input(app: Flask, engine: Engine, lead: FlaskClient) -> None:
    to_report(engine, "APP-W-000040")
    fragment = lead.get("/monitor/?partial=1").get_data(as_text=True)
    assert 'id="monitor-data"' in fragment and "<html" not in fragment
    assert lead.get("/monitor/?process=registration&version=99").status_code == 404
    assert lead.get("/monitor/?process=nope&period=abc&unit=year&version=x").status_code == 200
    # digits that are not ASCII, numbers no int() takes, moments at the edge of the calendar: never a 500
    for query in ("version=%C2%B2", "version=" + "9" * 5000, "page=%C2%B2", "page=" + "9" * 5000):
        assert lead.get(f"/monitor/?process=registration&{query}").status_code in (200, 404), query
        assert lead.get(f"/dossiers/?{query}").status_code == 200, query
    assert lead.get("/monitor/diagram/registration.bpmn?version=%C2%B2").status_code == 200
    for edge in ("started_from=9999-12-31T23:59:59-14:00", "started_before=0001-01-01T00:00:00%2B14:00"):
        assert lead.get(f"/dossiers/?{edge}").status_code == 200, edge
    assert "Wachten op auditrapport" in lead.get("/monitor/?process=nope").get_data(
        as_text=True
    )  # the default
    assert lead.get("/monitor/diagram/nope.bpmn").status_code == 404
    assert lead.get("/monitor/diagram/registration.bpmn?version=7").status_code == 404
    assert "<bpmn:definitions" in lead.get("/monitor/diagram/registration.bpmn").get_data(as_text=True)
    assert post(lead, "/monitor/incidents/999999/retry", {}).status_code == 404
    assert post(lead, "/monitor/incidents/99999999999/retry", {}).status_code == 404
    assert post(lead, "/monitor/mails/999999/resend", {}).status_code == 404
    outside = post(lead, "/monitor/incidents/retry-group", {"back": "https://evil.example/"})
    assert outside.status_code == 302 and outside.headers["Location"] == "/monitor/"
    everything = lead.get("/monitor/?process=").get_data(as_text=True)
    assert 'id="monitor-diagram"' not in everything and "Dossiers per status" in everything
    post(lead, "/language/en", {})
    english = lead.get("/monitor/").get_data(as_text=True)
    for text in ("Cases by status", "Audit reports: the 4 to 6 week turnaround", "Deadlines coming up"):
        assert text in english, text
    add_person(engine, "bea.beheer", ("beheerder",))
    assert client_of(app, "bea.beheer").get("/monitor/").status_code == 200
