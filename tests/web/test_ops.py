"""Operations: ``/metrics`` scraped and parsed against the cases made, who may scrape it, ``/readyz`` turning
unready (no worker, a stale heartbeat, old migrations, the database away) and ``/healthz``; the run's log
lines say ids, never the case's data."""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select, text

from engine import clock
from engine.api import Engine
from engine.config import Settings
from engine.models import HistoryEntry
from engine.services import ServiceContext, ServiceRegistry
from tests.web.conftest import add_person
from tests.web.test_provider import application, client_of, full_scores, start, to_report
from web import create_app

TOKEN = "scrape-me-7f3a"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
PERSONAL = ("info@acme.be", "Acme Opleidingen", "BE48 0011 2345 6727", "BE48001123456727")


def scrape(client: FlaskClient, token: str | None = TOKEN) -> Samples:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = client.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.mimetype == "text/plain"
    samples: Samples = {}
    for family in text_string_to_metric_families(answer.get_data(as_text=True)):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def family(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


def _settings(engine: Engine, **changes: Any) -> None:
    engine.settings = dataclasses.replace(engine.settings, **changes)


def _sim(engine: Engine) -> clock.SimulatedClock:
    assert isinstance(engine.clock, clock.SimulatedClock)
    return engine.clock


@pytest.fixture
def token(engine: Engine) -> str:
    _settings(engine, metrics_token=TOKEN)
    return TOKEN


def _failing_summary(registry: ServiceRegistry) -> None:
    def unreachable(ctx: ServiceContext, scores: dict[str, Any], audit_type: str) -> dict[str, Any]:
        raise ConnectionError("audit summary service unreachable")

    registry.register("summarize_audit", unreachable)


def _report(engine: Engine, key: str) -> None:
    payload = {"application_id": key, "report_id": f"R-{key}", "audit_type": "full", "scores": full_scores()}
    with engine.transaction() as db:
        engine.message(db, "audit_report", None, payload)


# ------------------------------------------------------------------------------------------ /metrics


def test_metrics_count_the_cases_made(
    app: Flask, engine: Engine, registry: ServiceRegistry, token: str
) -> None:
    client = app.test_client()
    before = scrape(client)
    start(engine, "APP-M-000001")  # waits for the provider's declaration
    to_report(engine, "APP-M-000002")
    to_report(engine, "APP-M-000003")  # both wait for their audit report
    failing = to_report(engine, "APP-M-000004")
    _failing_summary(registry)
    _report(engine, "APP-M-000004")
    for _ in range(5):  # past the automatic retries: an incident
        engine.advance_clock(clock.now() + timedelta(minutes=30))
    with engine.transaction() as db:
        engine.message(db, "ping", "nobody-waits", {})  # no contract, nobody waits: kept for later
        failures = db.scalar(
            select(func.count(HistoryEntry.id)).where(
                HistoryEntry.instance_id == failing, HistoryEntry.event == "service_failed"
            )
        )

    after = scrape(client)
    cases = family(after, "kmop_cases")
    assert cases == {
        frozenset({("process", "registration"), ("status", "waiting")}): 3,
        frozenset({("process", "registration"), ("status", "error")}): 1,
    }
    assert family(after, "kmop_user_tasks_waiting") == {
        frozenset({("process", "registration"), ("element", "sign_declaration")}): 1
    }
    assert value(after, "kmop_incidents_open") == 1
    assert value(after, "kmop_messages_buffered") == 1
    assert value(after, "kmop_database_up") == 1
    assert failures == 3
    operator = {"operator": "summarize_audit"}
    failed = value(after, "kmop_service_task_failures_total", **operator)
    assert failed - value(before, "kmop_service_task_failures_total", **operator) == failures
    calls = value(after, "kmop_service_task_seconds_count", **operator)
    assert calls - value(before, "kmop_service_task_seconds_count", **operator) == failures
    assert "kmop_worker_heartbeat_age_seconds" not in {name for name, _ in after}  # no worker ever ran


def test_a_late_timer_is_measured_by_its_lateness(app: Flask, engine: Engine, token: str) -> None:
    client = app.test_client()
    for key in ("APP-M-000011", "APP-M-000012"):
        to_report(engine, key)
    before = scrape(client)
    # Nobody fired the 4-week reminders on time: the clock jumps 2 hours past them, then a sweep runs.
    _sim(engine).set(clock.now() + timedelta(weeks=4, hours=2))
    assert engine.fire_due() == 2
    after = scrape(client)

    labels = {"process": "registration"}
    count = value(after, "kmop_timer_lateness_seconds_count", **labels)
    assert count - value(before, "kmop_timer_lateness_seconds_count", **labels) == 2
    total = value(after, "kmop_timer_lateness_seconds_sum", **labels)
    assert total - value(before, "kmop_timer_lateness_seconds_sum", **labels) == pytest.approx(
        2 * 7200, abs=2
    )
    in_hour = value(after, "kmop_timer_lateness_seconds_bucket", le="3600.0", **labels)
    assert in_hour == value(before, "kmop_timer_lateness_seconds_bucket", le="3600.0", **labels)


def test_requests_are_timed_by_route_not_by_path(app: Flask, engine: Engine, token: str) -> None:
    client = client_of(app, "an.vlaio")
    before = scrape(client)
    first, second = start(engine, "APP-M-000021"), start(engine, "APP-M-000022")
    assert client.get(f"/dossiers/{first}").status_code == 200
    assert client.get(f"/dossiers/{second}").status_code == 200
    assert client.get("/no-such-page").status_code == 404
    after = scrape(client)

    def delta(**labels: str) -> float:
        name = "kmop_http_request_duration_seconds_count"
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta(route="/dossiers/<int:instance_id>", method="GET", status="200") == 2
    assert delta(route="<unmatched>", method="GET", status="404") == 1
    assert not any(f"/dossiers/{first}" in dict(labels).get("route", "") for _, labels in after)


def test_only_operators_a_token_or_a_trusted_network_may_scrape(app: Flask, engine: Engine) -> None:
    add_person(engine, "olga.ops", ("beheerder",))
    anonymous = app.test_client()
    refused = anonymous.get("/metrics")
    assert refused.status_code == 401 and refused.mimetype == "text/plain"
    assert "beheerder" in refused.get_data(as_text=True)
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    staff = client_of(app, "an.vlaio")
    answer = staff.get("/metrics")
    assert answer.status_code == 403 and "operators" in answer.get_data(as_text=True)
    assert client_of(app, "jan.acme").get("/metrics").status_code == 403
    scrape(client_of(app, "olga.ops"), token=None)  # an operator, logged in

    _settings(engine, metrics_token=TOKEN)
    assert anonymous.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert anonymous.get("/metrics").status_code == 401
    scrape(anonymous)

    _settings(engine, metrics_token="", metrics_networks=("10.0.0.0/8", "2001:db8::/32"))
    assert anonymous.get("/metrics").status_code == 401  # the test client comes from 127.0.0.1
    inside = anonymous.get("/metrics", environ_base={"REMOTE_ADDR": "10.20.30.40"})
    assert inside.status_code == 200 and b"kmop_cases" in inside.data
    assert anonymous.get("/metrics", environ_base={"REMOTE_ADDR": "2001:db8::5"}).status_code == 200
    assert anonymous.get("/metrics", environ_base={"REMOTE_ADDR": "11.0.0.1"}).status_code == 401


def test_bad_metrics_networks_are_refused_at_start() -> None:
    with pytest.raises(ValueError, match="KMOP_METRICS_NETWORKS"):
        Settings.from_env({"KMOP_METRICS_NETWORKS": "10.0.0.0/8, intranet"})
    settings = Settings.from_env(
        {"KMOP_METRICS_NETWORKS": "10.0.0.0/8, 192.168.1.0/24", "KMOP_METRICS_TOKEN": "s"}
    )
    assert settings.metrics_networks == ("10.0.0.0/8", "192.168.1.0/24")
    assert "s" not in repr(settings).split("metrics_token")[-1][:5]  # the token is not in the repr
    with pytest.raises(ValueError, match="KMOP_LOG_FORMAT"):
        Settings.from_env({"KMOP_LOG_FORMAT": "xml"})


# ---------------------------------------------------------------------------------- /readyz, /healthz


def _ready(client: FlaskClient) -> tuple[int, dict[str, Any]]:
    answer = client.get("/readyz")
    body = answer.get_json()
    assert body is not None and set(body["checks"]) == {"database", "migrations", "worker"}
    return answer.status_code, body


def test_ready_only_with_a_young_worker_heartbeat(app: Flask, engine: Engine) -> None:
    client = app.test_client()
    status, body = _ready(client)
    assert status == 503 and body["ready"] is False
    assert body["checks"]["database"]["ok"] and body["checks"]["migrations"]["ok"]
    assert not body["checks"]["worker"]["ok"] and "no worker" in body["checks"]["worker"]["detail"]

    with engine.transaction() as db:
        engine.beat(db, "host:1", clock.now())
    status, body = _ready(client)
    assert (status, body["ready"]) == (200, True)

    limit = engine.settings.heartbeat_max_seconds
    _sim(engine).set(clock.now() + timedelta(seconds=limit - 1))
    assert _ready(client)[0] == 200
    _sim(engine).set(clock.now() + timedelta(seconds=2))  # the heartbeat is now older than the limit
    status, body = _ready(client)
    assert status == 503
    assert [name for name, check in body["checks"].items() if not check["ok"]] == ["worker"]
    assert f"more than {limit:g} s" in body["checks"]["worker"]["detail"]

    with engine.transaction() as db:  # the worker beats again
        engine.beat(db, "host:1", clock.now())
    assert _ready(client)[0] == 200


def test_unready_when_the_migrations_are_behind(app: Flask, engine: Engine) -> None:
    with engine.transaction() as db:
        engine.beat(db, "host:1", clock.now())
        db.execute(text("UPDATE alembic_version SET version_num = '0011_old'"))
    status, body = _ready(app.test_client())
    assert status == 503
    assert not body["checks"]["migrations"]["ok"] and "0011_old" in body["checks"]["migrations"]["detail"]
    assert body["checks"]["worker"]["ok"]


def test_healthz_answers_without_the_database_and_readyz_says_it_is_away(app: Flask) -> None:
    client = client_of(app, "an.vlaio")  # a logged-in person: /healthz still asks the database nothing
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/health").status_code == 200  # the older name
    away = Engine(
        Settings.from_env({}, database_url="postgresql+psycopg://kmop@127.0.0.1:9/nothing"),
        install_clock=False,
    )
    broken = create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=away).test_client()
    assert broken.get("/healthz").status_code == 200
    status, body = _ready(broken)
    assert status == 503 and not any(check["ok"] for check in body["checks"].values())
    assert body["checks"]["database"]["detail"].startswith("unreachable")
    away.close()


# ------------------------------------------------------------------------------------------------ logs


def test_runs_and_failures_log_ids_never_the_case_data(
    app: Flask, engine: Engine, registry: ServiceRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="kmop")
    key = "APP-M-000031"
    case = to_report(engine, key, **application())
    _failing_summary(registry)
    _report(engine, key)
    for _ in range(5):
        engine.advance_clock(clock.now() + timedelta(minutes=30))

    runs = [r for r in caplog.records if r.name == "kmop.engine" and hasattr(r, "duration_ms")]
    assert runs and {r.__dict__["instance_id"] for r in runs} == {case}
    first = runs[0].__dict__
    assert (first["run"], first["business_key"], first["process_key"]) == ("start", key, "registration")
    assert first["status"] == "waiting" and first["elements"] == ["sign_declaration"]
    assert isinstance(first["duration_ms"], float)
    assert runs[-1].__dict__["status"] == "error"
    failures = [r.__dict__ for r in caplog.records if hasattr(r, "error_type")]
    assert [f["outcome"] for f in failures] == ["retry", "retry", "incident"]
    assert {(f["operator"], f["error_type"], f["instance_id"]) for f in failures} == {
        ("summarize_audit", "ConnectionError", case)
    }
    for record in caplog.records:
        said = record.getMessage() + repr(record.__dict__)
        assert not any(p in said for p in PERSONAL), said
